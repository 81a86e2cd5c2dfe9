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

{{/* Address flag value of a metrics endpoint: the port, or "0" (controller-runtime: disabled). */}}
{{- define "routelb.metricsAddr" -}}
{{- if .ctx.Values.metrics.enabled -}}:{{ .port }}{{- else -}}0{{- end -}}
{{- end -}}

{{/* Refuse values the schema cannot express. */}}
{{- define "routelb.validate" -}}
{{- if not (or .Values.bgp.enabled .Values.l2.enabled) -}}
{{- fail "bgp.enabled and l2.enabled are both false: routelb would announce nothing; enable at least one mode" -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.enabled (not .Values.metrics.enabled) -}}
{{- fail "metrics.serviceMonitor.enabled needs metrics.enabled" -}}
{{- end -}}
{{- $ports := list .Values.speaker.metricsPort .Values.speaker.healthPort .Values.speaker.reloaderMetricsPort -}}
{{- if ne (len (uniq $ports)) 3 -}}
{{- fail (printf "speaker.metricsPort, speaker.healthPort and speaker.reloaderMetricsPort must differ (they share the node's network): %v" $ports) -}}
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
