{{/*
BGP mode with routingDaemon: bird. Start-up order as with FRR: the reloader binary, BIRD (ready when
its control socket answers), the reloader (native sidecars start in order and stop after the
speaker), then the speaker. BIRD runs /etc/bird/bird.conf, which only the reloader writes, and only
with configs `bird -p` accepted; a restarted BIRD container therefore comes back with the last good
config. The first start has a minimal config whose device protocol is named as in the rendered one:
renaming it on the first configure would make every interface vanish from BIRD and come back without
its addresses (seen with BIRD 2.0.12).
*/}}
{{- define "routelb.bird.initContainers" -}}
{{- $birdImage := printf "%s:%s" .Values.bird.image.repository .Values.bird.image.tag -}}
initContainers:
  - name: cp-reloader
    image: {{ include "routelb.image" . }}
    imagePullPolicy: {{ .Values.image.pullPolicy }}
    # A static binary, so it runs in the BIRD image beside the bird and birdc it drives.
    command: ["/reloader", "install", "/opt/routelb/reloader"]
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: ["ALL"]
    volumeMounts:
      - name: reloader-bin
        mountPath: /opt/routelb
  - name: bird
    image: {{ $birdImage }}
    imagePullPolicy: {{ .Values.bird.image.pullPolicy }}
    restartPolicy: Always
    command:
      - /bin/sh
      - -c
      - |
        [ -s /etc/bird/bird.conf ] || printf "log stderr all;\nprotocol device 'routelb_device' {\n}\n" > /etc/bird/bird.conf
        exec /usr/sbin/bird -f -c /etc/bird/bird.conf -s /run/bird/bird.ctl
    startupProbe:
      exec:
        command: ["/usr/sbin/birdc", "-s", "/run/bird/bird.ctl", "show", "status"]
      periodSeconds: 1
      failureThreshold: 120
    securityContext:
      privileged: false
      allowPrivilegeEscalation: false
      # BIRD runs as root (no -u): port 179 (NET_BIND_SERVICE), BGP/BFD sockets bound to devices
      # and TTL security (NET_RAW), kernel routes and interface state (NET_ADMIN). See the README.
      runAsUser: 0
      runAsNonRoot: false
      capabilities:
        drop: ["ALL"]
        add: ["NET_ADMIN", "NET_RAW", "NET_BIND_SERVICE"]
    {{- with .Values.bird.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: bird-sockets
        mountPath: /run/bird
      - name: bird-conf
        mountPath: /etc/bird
  - name: reloader
    image: {{ $birdImage }}
    imagePullPolicy: {{ .Values.bird.image.pullPolicy }}
    restartPolicy: Always
    command: ["/opt/routelb/reloader"]
    args:
      - --routing-daemon=bird
      - --config=/etc/frr-rendered/bird.conf
      - --bird=/usr/sbin/bird
      - --birdc=/usr/sbin/birdc
      - --bird-socket=/run/bird/bird.ctl
      - --bird-config=/etc/bird/bird.conf
      - --debounce={{ .Values.reloader.debounce }}
      - --status-dir=/etc/frr-rendered
      - --scratch-dir=/tmp
      {{- if .Values.metrics.enabled }}
      - --metrics-bind-address=:{{ .Values.speaker.reloaderMetricsPort }}
      - --metallb-metrics={{ .Values.metrics.metallb }}
      {{- with include "routelb.metricsSecureArgs" . }}{{ . | nindent 6 }}{{ end }}
      {{- else }}
      - --metrics-bind-address=0
      {{- end }}
      - --health-probe-bind-address={{ include "routelb.speakerHealthAddr" (dict "ctx" . "port" .Values.speaker.reloaderHealthPort) }}
      {{- include "routelb.logFlags" . | nindent 6 }}
    {{- if .Values.metrics.enabled }}
    ports:
      - name: reloader-mtr
        containerPort: {{ .Values.speaker.reloaderMetricsPort }}
        protocol: TCP
    {{- end }}
    # /healthz, not /metrics: a scrape runs birdc, and in secure mode needs a token.
    livenessProbe:
      httpGet:
        {{- with .Values.speaker.healthBindAddress }}
        host: {{ . | quote }}
        {{- end }}
        path: /healthz
        port: {{ .Values.speaker.reloaderHealthPort }}
      periodSeconds: 10
      failureThreshold: 6
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      # birdc reaches BIRD's socket (root's, like the reloader) and the reloader writes bird.conf:
      # no capability needed.
      runAsUser: 0
      runAsNonRoot: false
      capabilities:
        drop: ["ALL"]
    {{- with .Values.reloader.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    volumeMounts:
      - name: bird-sockets
        mountPath: /run/bird
      - name: bird-conf
        mountPath: /etc/bird
      - name: frr-rendered
        mountPath: /etc/frr-rendered
      - name: reloader-bin
        mountPath: /opt/routelb
        readOnly: true
      - name: reloader-tmp
        mountPath: /tmp
      {{- with include "routelb.metricsTLSMount" . }}{{ . | nindent 6 }}{{ end }}
{{- end -}}
