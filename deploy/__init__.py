"""Deployments of seal-rag: the compose recipe and Dockerfile (files here), the local multi-process
launcher (`launcher`, `seal-rag deploy local`) and the load test through the app's HTTP API
(`loadtest`, `seal-rag bench load`)."""
