{{/* FRR's start-up files in the speaker pod: daemons, vtysh.conf and an initial frr.conf. */}}
{{- define "routelb.frr.startupFiles" -}}
daemons: |
  # The FRR daemons routelb uses; frrinit.sh starts them under watchfrr, which restarts any that dies.
  zebra=yes
  bgpd=yes
  bfdd=yes
  staticd=yes
  ospfd=no
  ospf6d=no
  ripd=no
  ripngd=no
  isisd=no
  pimd=no
  pim6d=no
  ldpd=no
  nhrpd=no
  eigrpd=no
  babeld=no
  sharpd=no
  pbrd=no
  fabricd=no
  vrrpd=no
  pathd=no
  vtysh_enable=yes
  # -P 0: no TCP vty (the host network is shared); vtysh talks over the sockets in /var/run/frr.
  # --log: a start-up log target, not part of the running config the reloader compares against; its
  # level is the speaker's (logLevel), as the `log stdout` line the speaker renders (docs/bgp.md).
  zebra_options="-P 0 -s 90000000 --log file:/etc/frr/frr.log --log-level {{ include "routelb.frr.logLevel" . }}"
  bgpd_options="-P 0 --log file:/etc/frr/frr.log --log-level {{ include "routelb.frr.logLevel" . }}"
  bfdd_options="-P 0 --log file:/etc/frr/frr.log --log-level {{ include "routelb.frr.logLevel" . }}"
  staticd_options="-P 0 --log file:/etc/frr/frr.log --log-level {{ include "routelb.frr.logLevel" . }}"
  mgmtd_options="-P 0 --log file:/etc/frr/frr.log --log-level {{ include "routelb.frr.logLevel" . }}"
  watchfrr_options="--log file:/etc/frr/frr.log"
vtysh.conf: |
  service integrated-vtysh-config
frr.conf: |
  frr defaults traditional
  log timestamp precision 3
{{- end -}}


{{/*
The FRR container's capabilities (the chart README says why each one): the daemons' privs_init asks
NET_ADMIN, NET_RAW, SYS_ADMIN (zebra, bgpd, bfdd) and NET_BIND_SERVICE (bgpd, port 179) and fails
without any of them; SETUID/SETGID switch them to user frr; frrinit.sh chowns their files (CHOWN),
runs vtysh as root against the frr-owned sockets (DAC_OVERRIDE) and stops the daemons (KILL).
*/}}
{{- define "routelb.frr.capabilities" -}}
["NET_ADMIN", "NET_RAW", "SYS_ADMIN", "NET_BIND_SERVICE", "SETUID", "SETGID", "CHOWN", "DAC_OVERRIDE", "KILL"]
{{- end -}}


{{/* FRR's name for the chart's logLevel, as nodeconfig.FRRLogLevel maps the speaker's level. */}}
{{- define "routelb.frr.logLevel" -}}
{{- $m := dict "debug" "debugging" "info" "informational" "error" "errors" -}}
{{- get $m (toString .Values.logLevel) | default "informational" -}}
{{- end -}}
