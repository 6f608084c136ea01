#!/usr/bin/env bash
# Lays out the cpstream distribution under standard paths:
#   /opt/cpstream/bin/cpstream, jdk.sh       launcher (finds a JDK 25)
#   /opt/cpstream/lib/*.jar                  the distribution (deploy/target/lib)
#   /etc/cpstream/collector.yaml             collector settings (kept if present)
#   /etc/cpstream/agent.yaml.example         agent settings; copy to agent-<vm>.yaml per VM
#   /etc/cpstream/cpstream.env               JVM options for the units (kept if present)
#   /etc/systemd/system/cpstream-collector.service, cpstream-agent@.service
#   /usr/share/cpstream/grafana/             dashboards and Grafana provisioning
#   /usr/share/cpstream/prometheus/          Prometheus scrape configuration
#   /usr/share/doc/cpstream/README.md
#   /var/lib/cpstream                        state: standby images and snapshots
# and, when run as root on the real root, creates the system user `cpstream` (in group kvm when it
# exists) and reloads systemd.
# Runtime packages beside a JDK 25: none for sim, process and trace sources; /dev/kvm for kvm sources; the
# Debian package libunicorn2 (libunicorn.so.2, Unicorn 2.x) for emu sources (the same guests on an emulated
# CPU, no /dev/kvm needed). The script says when libunicorn2 is missing; it installs no package itself.
#
# Usage: deploy/install.sh [--prefix DIR] [--destdir DIR] [--from LIBDIR]
#   --prefix   where bin/ and lib/ go (default /opt/cpstream); units are rewritten to match
#   --destdir  stage everything under DIR (for packaging or a test); no user, no systemctl
#   --from     jars to install (default deploy/target/lib, built when missing)
set -euo pipefail
repo="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
prefix=/opt/cpstream
destdir=
from="$repo/deploy/target/lib"

while (($#)); do
  case "$1" in
    --prefix) prefix="${2:?--prefix wants a directory}"; shift 2 ;;
    --destdir) destdir="${2:?--destdir wants a directory}"; shift 2 ;;
    --from) from="${2:?--from wants a directory of jars}"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be an absolute path" >&2; exit 2 ;; esac

if [ "$from" = "$repo/deploy/target/lib" ] && [ ! -f "$from/cpstream-cli.jar" ]; then
  echo "install.sh: building the distribution first" >&2
  "$repo/mvnw" -B -ntp -q package -DskipTests -pl deploy -am -f "$repo/pom.xml" >&2
fi
compgen -G "$from/*.jar" >/dev/null || { echo "install.sh: no jars in $from" >&2; exit 1; }
if [ -z "$destdir" ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root to install into /, or stage with --destdir DIR" >&2
  exit 1
fi

root="${destdir%/}"
etc="$root/etc/cpstream"
share="$root/usr/share/cpstream"

# Binaries: replace lib/ whole, so an upgrade never mixes jars of two versions.
install -d -m 0755 "$root$prefix/bin" "$etc" "$root/etc/systemd/system" "$share/grafana" "$share/prometheus" \
  "$root/usr/share/doc/cpstream"
rm -rf "$root$prefix/lib"
install -d -m 0755 "$root$prefix/lib"
install -m 0644 "$from"/*.jar "$root$prefix/lib/"
install -m 0755 "$repo/deploy/dist/cpstream" "$root$prefix/bin/cpstream"
install -m 0644 "$repo/deploy/bin/jdk.sh" "$root$prefix/bin/jdk.sh"

# Settings: never overwrite what the operator edited; refresh the examples.
install_config() { # source target mode
  if [ -e "$2" ]; then
    echo "install.sh: keeping $2 (the shipped version is $1)" >&2
  else
    install -m "$3" "$1" "$2"
  fi
}
install_config "$repo/deploy/config/collector.yaml" "$etc/collector.yaml" 0640
install_config "$repo/deploy/dist/cpstream.env" "$etc/cpstream.env" 0644
install -m 0644 "$repo/deploy/config/agent.yaml" "$etc/agent.yaml.example"
install -m 0644 "$repo/deploy/config/collector.yaml" "$etc/collector.yaml.example"

# Units, pointed at the prefix.
for unit in cpstream-collector.service cpstream-agent@.service; do
  sed "s|/opt/cpstream/|$prefix/|g" "$repo/deploy/systemd/$unit" > "$root/etc/systemd/system/$unit"
  chmod 0644 "$root/etc/systemd/system/$unit"
done

# Dashboards, provisioning, scrape configuration, documentation.
rm -rf "$share/grafana"
install -d -m 0755 "$share/grafana"
cp -r "$repo/grafana/dashboards" "$repo/grafana/provisioning" "$repo/grafana/README.md" "$share/grafana/"
install -m 0644 "$repo/deploy/prometheus/"*.yml "$share/prometheus/"
install -m 0644 "$repo/README.md" "$root/usr/share/doc/cpstream/README.md"

# State directory (systemd's StateDirectory= creates it too), the user, systemd.
install -d -m 0750 "$root/var/lib/cpstream"
# Certificates of this host's daemons (cpstream pki issue writes them; keys 0600, readable by the service user).
install -d -m 0750 "$etc/pki"
if [ -z "$destdir" ]; then
  if ! id cpstream >/dev/null 2>&1; then
    useradd --system --home-dir /var/lib/cpstream --no-create-home --shell /usr/sbin/nologin cpstream
  fi
  if getent group kvm >/dev/null; then
    usermod -a -G kvm cpstream
  fi
  chown cpstream:cpstream /var/lib/cpstream
  chgrp cpstream "$etc/collector.yaml"
  chgrp cpstream "$etc/pki"
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
  fi
fi

if ! { ldconfig -p 2>/dev/null | grep -q 'libunicorn\.so\.2 '; }; then
  echo "install.sh: libunicorn.so.2 is not installed: emu sources need it (apt-get install libunicorn2)" >&2
fi

cat >&2 <<DONE
install.sh: installed cpstream under ${root:-}$prefix
next steps:
  certificates: cpstream pki init --dir ~/cpstream-ca  (keep it offline), then per host
                cpstream pki issue --dir ~/cpstream-ca --name <name> --role collector|agent [--vm <vm>]
                and copy ca.crt, <name>.crt, <name>.key to /etc/cpstream/pki/ (owner cpstream, key 0600)
  standby host: edit /etc/cpstream/collector.yaml, then  systemctl enable --now cpstream-collector
  primary host: cp /etc/cpstream/agent.yaml.example /etc/cpstream/agent-<vm>.yaml, edit it, then
                systemctl enable --now cpstream-agent@<vm>
  Prometheus:   /usr/share/cpstream/prometheus/prometheus.yml (scrape jobs cpstream-collector, cpstream-agent,
                mutual TLS: cpstream pki issue ... --name prometheus --role reader, files in /etc/prometheus/cpstream/)
  Grafana:      copy /usr/share/cpstream/grafana/provisioning/* into /etc/grafana/provisioning/
DONE
