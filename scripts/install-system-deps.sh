#!/usr/bin/env bash
# System packages for PDF reports with Chinese text: Debian's headless Chromium prints
# nbconvert's HTML to PDF, Noto CJK fonts render Chinese in HTML, PDF and matplotlib,
# poppler-utils gives pdftotext for the tests. Skips what is already there.
# A Java runtime (Debian's default-jre-headless, OpenJDK 17 on bookworm) for the Spark engine,
# only when it is wanted: `--spark`, or pyspark installed in .venv (the `spark` and `test` extras).
set -euo pipefail
need=()
spark=0
[ "${1:-}" = "--spark" ] && spark=1
venv_python="$(dirname "$0")/../.venv/bin/python"
if [ "$spark" -eq 0 ] && [ -x "$venv_python" ] && "$venv_python" -c "import pyspark" >/dev/null 2>&1; then
  spark=1
fi
if [ "$spark" -eq 1 ] && ! command -v java >/dev/null 2>&1 && [ ! -x "${JAVA_HOME:-/nonexistent}/bin/java" ]; then
  need+=(default-jre-headless)
fi
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# grep without -q reads all of fc-list's output: with -q it exits at the first match, fc-list
# dies of SIGPIPE, and pipefail turned "found" into "missing" (apt ran on every call)
fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null || need+=(fonts-noto-cjk)
command -v pdftotext >/dev/null 2>&1 || need+=(poppler-utils)
command -v fc-list >/dev/null 2>&1 || need+=(fontconfig)
[ ${#need[@]} -eq 0 ] && exit 0
echo "[setup] installing system packages: ${need[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "error: need root (or sudo) to install: ${need[*]}. Install them with apt and re-run." >&2
    exit 2
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# slim Debian images lack this folder and the JRE's postinst then fails
case " ${need[*]} " in *" default-jre-headless "*) $SUDO mkdir -p /usr/share/man/man1 ;; esac
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
