# minicontainer: the two commands are `make lab` and `make test` (as root, on Debian 12 / Ubuntu 22.04+).
# Every target installs what it needs first and can be run again safely. On a minimal VM without make
# or Python: `sh scripts/bootstrap.sh` first.

PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
EX      ?= 01
PORT    ?= 8888
export MC_LIB_DIR ?= /var/lib/minicontainer
export MC_RUN_DIR ?= /run/minicontainer

.PHONY: need-root lab lab-url test check hint progress exercises notebooks image deps test-deps venv lock bench clean reset distclean help test-vm test-vm-cloud-init vm-run vm-shell vm-base oci-validation

help:
	@echo "make lab        install what is missing, prepare the default image, start JupyterLab (127.0.0.1, PORT=8888)"
	@echo "make test       install what is missing, run every test, notebook and exercise check"
	@echo "make lab-url    the URL (with its token) of the lab already running (e.g. as a systemd service)"
	@echo "make check EX=01   check your exercises for one lesson (or EX=1.2 for one part)"
	@echo "make hint EX=1.2 N=1   hint N for an exercise part (1: a direction ... last: the shape of the answer)"
	@echo "make progress   every lesson's exercises: done or not"
	@echo "make exercises  regenerate exercises/*.py from solutions/ (instructors; overwrites learners' work)"
	@echo "make notebooks  re-execute the lessons and store their outputs (authors)"
	@echo "make bench      run the benchmarks beside runc, skopeo and umoci"
	@echo "make oci-validation RUNTIME_TOOLS=DIR   the OCI runtime-tools suite against minicontainer-oci (lesson 10)"
	@echo "make clean      remove everything the course made on this machine (= minicontainer reset)"
	@echo "make test-vm    run the host-dependent tests and notebooks in a learner's Debian 12 VM (qemu;"
	@echo "                ALL=1 everything, TESTS='tests/test_x.py -k y' a subset, VM_DIRTY=1 uncommitted changes)"
	@echo "make test-vm-cloud-init   boot that VM as a cloud VM with docs/classroom-cloud-init.yaml (NoCloud seed) and"
	@echo "                check that it becomes a running lab (the classroom recipe of docs/classroom.md)"
	@echo "make vm-run CMD='uname -r'   boot that VM, run one command in the project there, print its output"
	@echo "make vm-shell   a root shell on the running VM (VM_STAY=1 keeps it up after its job)"

# The course creates namespaces, mounts and cgroups: say so at once instead of failing half-way.
need-root:
	@if [ "$$(id -u)" != 0 ]; then echo "make $(MAKECMDGOALS): this needs root (it installs packages and creates containers). Fix: sudo make $(MAKECMDGOALS) (as root: make $(MAKECMDGOALS))" >&2; exit 1; fi

# The Debian packages: the course's own (all or nothing), then the tests' and benchmarks' (a package
# missing from this system's repositories is a warning).
deps: need-root
	@bash scripts/host-deps.sh course

test-deps: need-root
	@bash scripts/host-deps.sh test

# The virtualenv: pyproject.toml's packages at constraints.txt's versions (scripts/venv.sh).
$(STAMP): pyproject.toml constraints.txt
	@bash scripts/venv.sh $(VENV) $(PYTHON) $@

venv: $(STAMP)

# Maintainers: re-resolve constraints.txt (the lock) from pyproject.toml, for Python 3.10 to 3.13.
lock: venv
	@$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --all-extras --universal --python-version 3.10 \
	  --no-header --quiet -o constraints.txt
	@sed -i '1i # The lock: exact versions of pyproject.toml'"'"'s dependencies (all extras), for Python 3.10+.\n# Written by `make lock`; used by make (scripts/venv.sh), environment.yml and binder/postBuild.' constraints.txt

image: deps venv
	@$(PY) -m minicontainer prepare

# JupyterLab on 127.0.0.1:PORT at the repository's root (see minicontainer/labserver.py). The port is
# checked first, so a second `make lab` says so at once.
lab: need-root
	@py=$(PY); [ -x $$py ] || py=$(PYTHON); PYTHONPATH=. $$py -m minicontainer.labserver --check-port --port $(PORT)
	@$(MAKE) --no-print-directory image
	@$(PY) -m minicontainer.labserver --port $(PORT)

# The URL (with its token) of the lab running on PORT: for a lab started by systemd (docs/classroom.md).
lab-url: need-root
	@$(PY) -m minicontainer.labserver --url --port $(PORT) $(if $(WAIT),--wait $(WAIT))

test: image test-deps
	@bash scripts/run-tests.sh

check: venv
	@$(PY) -m minicontainer.exercises check $(EX)

hint: venv
	@$(PY) -m minicontainer.exercises hint $(EX) $(N)

progress: venv
	@$(PY) -m minicontainer progress

exercises: venv
	@$(PY) -m minicontainer.exercises generate

notebooks: image
	@bash scripts/build-notebooks.sh $(NB)

bench: image
	@$(PY) bench/run_all.py

# The OCI runtime-tools validation suite against minicontainer-oci (lesson 10); not part of `make test`:
# its Go sources come from a runtime-tools checkout you give (RUNTIME_TOOLS=DIR). RUNTIME=runc for comparison.
oci-validation: need-root venv
	@bash scripts/oci-validation.sh

clean reset: need-root
	@if [ -x $(PY) ]; then $(PY) -m minicontainer reset; else echo "nothing installed yet"; fi

# A learner's VM (Debian 12: kernel 6.1, systemd, cgroup v2, /run noexec) under qemu: scripts/test-vm.sh.
# Not part of `make test`. Its settings (ALL, TESTS, VM_DIRTY, VM_TIMEOUT, VM_STAY, VM_KEEP) reach the
# script through the environment; CMD and TESTS unexpanded, so `$` in them is the shell's.
test-vm: export MC_VM_TESTS := $(value TESTS)
vm-run: export MC_VM_CMD := $(value CMD)
test-vm: need-root
	@bash scripts/test-vm.sh test

vm-run: need-root
	@bash scripts/test-vm.sh run "$$MC_VM_CMD"

# The classroom recipe (docs/classroom-cloud-init.yaml) on that VM, booted as a cloud VM: scripts/vm/cloud-init-check.sh.
test-vm-cloud-init: need-root
	@bash scripts/vm/cloud-init-check.sh

vm-shell:
	@python3 scripts/vm/shell

vm-base: need-root
	@bash scripts/test-vm.sh build

distclean: clean
	rm -rf $(VENV)
