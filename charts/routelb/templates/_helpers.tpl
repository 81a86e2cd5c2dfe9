{{/* Object name prefix: the release name, with the chart name unless the release already holds it. */}}
{{- define "routelb.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "routelb.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "routelb.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "routelb.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: call with (dict "ctx" $ "component" "controller"). */}}
{{- define "routelb.selectorLabels" -}}
app.kubernetes.io/name: {{ include "routelb.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "routelb.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "routelb.controller.name" -}}{{ include "routelb.fullname" . }}-controller{{- end -}}
{{- define "routelb.speaker.name" -}}{{ include "routelb.fullname" . }}-speaker{{- end -}}
{{- define "routelb.webhook.serviceName" -}}{{ include "routelb.fullname" . }}-webhook{{- end -}}
{{- define "routelb.webhook.secretName" -}}{{ include "routelb.fullname" . }}-webhook-cert{{- end -}}
{{- define "routelb.frr.configMapName" -}}{{ include "routelb.fullname" . }}-frr-startup{{- end -}}

{{/* The routelb binaries' shared flags. */}}
{{- define "routelb.logFlags" -}}
- --zap-log-level={{ .Values.logLevel }}
{{- end -}}

{{/*
The container's memory limit in bytes (internal/memlimit): the binary gives 90% of it to the Go
runtime as its soft limit, so the GC collects before the kernel kills. Without a limit the value is
the node's allocatable memory. GOMEMLIMIT in the container's env, if an operator sets one, wins.
*/}}
{{- define "routelb.memoryLimitEnv" -}}
- name: ROUTELB_MEMORY_LIMIT
  valueFrom:
    resourceFieldRef:
      resource: limits.memory
{{- end -}}

{{/* Address flag value of a metrics endpoint: the port, or "0" (controller-runtime: disabled). */}}
{{- define "routelb.metricsAddr" -}}
{{- if .ctx.Values.metrics.enabled -}}:{{ .port }}{{- else -}}0{{- end -}}
{{- end -}}

{{/* Whether the metrics endpoints are served over HTTPS with authentication (metrics.secure). */}}
{{- define "routelb.metricsSecure" -}}
{{- if and .Values.metrics.enabled .Values.metrics.secure -}}true{{- end -}}
{{- end -}}

{{/* The metrics flags every binary shares (internal/metricsauth), as args; empty without metrics.secure. */}}
{{- define "routelb.metricsSecureArgs" -}}
{{- if include "routelb.metricsSecure" . -}}
- --metrics-secure
{{- if .Values.metrics.tlsSecret }}
- --metrics-cert-dir=/etc/routelb/metrics-tls
{{- end }}
{{- end -}}
{{- end -}}

{{/* The metrics certificate's volume mount and volume (metrics.tlsSecret), for each container and pod that serves metrics. */}}
{{- define "routelb.metricsTLSMount" -}}
{{- if and (include "routelb.metricsSecure" .) .Values.metrics.tlsSecret -}}
- name: metrics-tls
  mountPath: /etc/routelb/metrics-tls
  readOnly: true
{{- end -}}
{{- end -}}
{{- define "routelb.metricsTLSVolume" -}}
{{- if and (include "routelb.metricsSecure" .) .Values.metrics.tlsSecret -}}
- name: metrics-tls
  secret:
    secretName: {{ .Values.metrics.tlsSecret }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end -}}
{{- end -}}

{{/* Address flag value of the speaker's and reloader's health endpoints: speaker.healthBindAddress and the port. */}}
{{- define "routelb.speakerHealthAddr" -}}
{{- with .ctx.Values.speaker.healthBindAddress -}}{{ if contains ":" . }}[{{ . }}]{{ else }}{{ . }}{{ end }}{{- end -}}:{{ .port }}
{{- end -}}

{{/* Refuse values the schema cannot express. */}}
{{- define "routelb.validate" -}}
{{- if not (or .Values.bgp.enabled .Values.l2.enabled) -}}
{{- fail "bgp.enabled and l2.enabled are both false: routelb would announce nothing; enable at least one mode" -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" -}}
{{- end -}}
{{- /* int: --set gives int64, a values file float64, and uniq compares them as different. */ -}}
{{- $ports := list (int .Values.speaker.metricsPort) (int .Values.speaker.healthPort) (int .Values.speaker.reloaderMetricsPort) (int .Values.speaker.reloaderHealthPort) -}}
{{- if ne (len (uniq $ports)) 4 -}}
{{- fail (printf "speaker.metricsPort, speaker.healthPort, speaker.reloaderMetricsPort and speaker.reloaderHealthPort must differ (they share the node's network): %v" $ports) -}}
{{- end -}}
{{- if and .Values.metrics.tlsSecret (not (include "routelb.metricsSecure" .)) -}}
{{- fail "metrics.tlsSecret needs metrics.secure (and metrics.enabled): the certificate would be unused" -}}
{{- end -}}
{{- if and .Values.metrics.readers (not (include "routelb.metricsSecure" .)) -}}
{{- fail "metrics.readers needs metrics.secure (and metrics.enabled): plain HTTP metrics are readable without a binding" -}}
{{- end -}}
{{- end -}}

{{- define "routelb.validateController" -}}
{{- if and (gt (int .Values.controller.replicas) 1) (not .Values.controller.leaderElect) -}}
{{- fail "controller.replicas > 1 needs controller.leaderElect: two replicas allocating at once would hand out one address twice" -}}
{{- end -}}
{{- end -}}

{{/* The Secret with the speakers' memberlist key: the user's, or the one the chart creates. */}}
{{- define "routelb.memberlistSecret" -}}
{{- default (printf "%s-memberlist" (include "routelb.fullname" .)) .Values.l2.memberlist.existingSecret -}}
{{- end -}}
