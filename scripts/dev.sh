#!/usr/bin/env bash
# One entry point on a fresh Debian 12 machine: installs what is missing (Debian packages, the
# .venv with the appliance), then runs the demo appliance or the test suite.
#   scripts/dev.sh run [dentra run options]   the appliance on its embedded default (demo clinic)
#   scripts/dev.sh test [pytest options]      lint + the whole test suite
#   scripts/dev.sh bench                      benchmarks (prints figures, writes bench/results.json)
#   scripts/dev.sh install                    only install
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'dev.sh: %s\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null; then sudo "$@"
    else say "need root to run: $*"; exit 1
    fi
}

debian_packages() {
    local missing=()
    command -v python3 >/dev/null || missing+=(python3)
    if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        missing+=(python3-venv)
    fi
    command -v sqlite3 >/dev/null || missing+=(sqlite3)
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    fi
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        say "Python 3.11 or newer is needed, found $(python3 --version 2>&1)"; exit 1
    fi
}

venv() {
    # Reinstall only when the project's dependencies changed since the last install.
    local stamp=.venv/.installed
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv"
        python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        say "installing the appliance and its test tools into .venv"
        # pip's chatter goes to a log, shown only when the install fails
        if ! { .venv/bin/python -m pip install -q --upgrade pip &&
               .venv/bin/python -m pip install -q -e '.[test]'; } >.venv/pip.log 2>&1; then
            cat .venv/pip.log >&2; say "installing into .venv failed (log above: .venv/pip.log)"; exit 1
        fi
        touch "$stamp"
    fi
}

install() { debian_packages; venv; }

cmd="${1:-}"; shift || true
case "$cmd" in
    install) install ;;
    run) install; exec .venv/bin/dentra run "$@" ;;
    test)
        install
        .venv/bin/ruff check appliance tests bench
        .venv/bin/python -m pytest "$@"
        say "acceptance scenarios (../shared/acceptance): not run yet; they drive \`dentra simulate\`, which the conversation brain (issue 3) adds"
        ;;
    bench) install; exec .venv/bin/python bench/store_bench.py "$@" ;;
    *) say "usage: scripts/dev.sh run|test|bench|install [options]"; exit 2 ;;
esac
