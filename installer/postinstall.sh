#!/bin/sh
# deb postinst / rpm %post: pick up the unit; (re)start the agent when this
# machine is already enrolled (an upgrade), else say how to enroll.
set -e
command -v systemctl >/dev/null 2>&1 || exit 0
[ -d /run/systemd/system ] || exit 0
systemctl daemon-reload || true
if [ -f /etc/wirefleet/config.json ]; then
	systemctl enable wirefleet-agent.service >/dev/null 2>&1 || true
	systemctl restart wirefleet-agent.service || true
else
	echo "wirefleet-agent installed; enroll with: wirefleet-agent enroll --server URL --token wfe_… && systemctl enable --now wirefleet-agent"
fi
exit 0
