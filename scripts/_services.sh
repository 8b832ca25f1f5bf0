# Sourced by scripts/test: make sure what the tests talk to is there.
# PostgreSQL: start the machine's cluster when it is installed but down (never stopped by the tests).
pg_up() { .venv/bin/python - <<'PY'
import sys, psycopg
try:
    psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", connect_timeout=3).close()
except Exception:
    sys.exit(1)
PY
}
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    echo "starting PostgreSQL …"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  fi
  pg_up || echo "PostgreSQL is not reachable on 127.0.0.1:5432: its half of the suite will be skipped" \
               "(or fail, with HOUQIN_REQUIRE_POSTGRES=1)" >&2
fi

# LibreOffice, CJK fonts and poppler: the volume render test converts a sealed workbook to PDF and reads it
# back. Installed from Debian's packages when missing and we may (root with apt); otherwise that test skips.
if ! command -v soffice >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -i wenquanyi >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing LibreOffice Calc, CJK fonts and poppler-utils from Debian's packages …"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      libreoffice-calc-nogui fonts-wqy-microhei poppler-utils >/dev/null 2>&1 \
      || echo "could not install LibreOffice/fonts: the render test will be skipped" >&2
  fi
fi

# Chromium: the console's browser tests (tests/console/test_browser.py) drive Debian's /usr/bin/chromium through
# Playwright (never `playwright install`). Installed from Debian's packages when missing and we may; otherwise
# those tests skip.
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Chromium from Debian's packages …"
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 \
      || echo "could not install chromium: the browser tests will be skipped" >&2
  fi
fi
