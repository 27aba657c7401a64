# One-command set-up and the jobs README.md promises. Every target is idempotent.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.semcorr-setup
ROS_ENV := source scripts/ros_env.sh
SETUP_INPUTS := requirements.txt requirements-ros.txt semcorr_core/pyproject.toml scripts/setup_system.sh \
	scripts/setup_ros.sh $(shell find -L ros2_ws/src -type f ! -path '*/__pycache__/*' ! -name '*.pyc')

.PHONY: setup test demo bench models sample-bag clean

setup: $(STAMP)

$(STAMP): $(SETUP_INPUTS)
	bash scripts/setup_system.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<26"
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e semcorr_core
	bash scripts/setup_ros.sh $(VENV)
	touch $(STAMP)

# README's test command.
test: setup
	$(ROS_ENV) && $(PY) -m pytest tests

# README's main job on the embedded default.
demo: setup
	$(ROS_ENV) && bash scripts/demo.sh

bench: setup
	mkdir -p out/bench
	$(VENV)/bin/semcorr bench synth --category mug --frames 100 --report out/bench/synth_mug.json
	$(VENV)/bin/semcorr bench geodesic --report out/bench/geodesic.json

# Retrain the shipped default models: embedding bundles, their 2D descriptor models and the chair's keypoint shape prior (CPU is fine; see scripts/train_default_models.sh).
models: setup
	bash scripts/train_default_models.sh

# Rewrite the shipped sample bag (semcorr_core.bags.SAMPLE_BAG_COMMAND; seeded, same messages).
SAMPLE_BAG := semcorr_core/src/semcorr_core/bags/sample/mug_orbit
sample-bag: setup
	$(VENV)/bin/semcorr bag synth --category mug --frames 20 --seed 0 --out $(SAMPLE_BAG) --overwrite

clean:
	rm -rf out ros2_ws/build ros2_ws/install ros2_ws/log
