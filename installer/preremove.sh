#!/bin/sh
# deb prerm / rpm %preun: stop and disable the agent only when the package
# is removed — never on an upgrade (deb: "upgrade"; rpm: $1 is 1), so an
# upgrade cannot leave the machine without its service (Orbit #18534).
set -e
case "${1:-}" in
upgrade|1) exit 0 ;;
esac
command -v systemctl >/dev/null 2>&1 || exit 0
[ -d /run/systemd/system ] || exit 0
systemctl disable --now wirefleet-agent.service >/dev/null 2>&1 || true
exit 0
