{{/* Names: the release name when it already contains the chart's name, as `helm create` does. */}}
{{- define "mic.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mic.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mic.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mic.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mic.labels" -}}
{{ include "mic.selectorLabels" . }}
app.kubernetes.io/part-of: movableink-consumer
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end }}

{{- define "mic.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "mic.secretName" -}}
{{- default (printf "%s-credentials" (include "mic.fullname" .)) .Values.credentials.existingSecret }}
{{- end }}

{{/*
config.toml from .Values.config. Helm reads numbers in values as floats, so toToml writes
`port = 9464.0`; whole numbers are written back as integers (every number setting of the
consumer that takes a fraction also takes a whole number).
*/}}
{{/* "true" when more than one consumer pod may run (replicaCount, or an autoscaler's maximum). */}}
{{- define "mic.severalReplicas" -}}
{{- $a := .Values.autoscaling -}}
{{- if $a.keda.enabled -}}{{- if gt (int $a.keda.maxReplicaCount) 1 }}true{{ end -}}
{{- else if $a.hpa.enabled -}}{{- if gt (int $a.hpa.maxReplicas) 1 }}true{{ end -}}
{{- else if gt (int .Values.replicaCount) 1 }}true{{ end -}}
{{- end }}

{{/* The configuration file: .Values.config, with [ordering] gate = "observe" when several pods
may run and no gate is set (docs/consumer-group-order.md). */}}
{{- define "mic.configToml" -}}
{{- $config := deepCopy .Values.config }}
{{- if and (include "mic.severalReplicas" .) (not (dig "ordering" "gate" "" $config)) }}
{{- $ordering := get $config "ordering" | default dict }}
{{- $_ := set $ordering "gate" "observe" }}
{{- $_ := set $config "ordering" $ordering }}
{{- end }}
{{- regexReplaceAll "(?m)^(\\s*[^=\\s]+ = -?[0-9]+)\\.0$" (toToml $config) "${1}" }}
{{- end }}

{{/* [delivery] shutdown_grace in whole seconds (the consumer's default: 25 s). */}}
{{- define "mic.shutdownGraceSeconds" -}}
{{- $grace := toString (dig "delivery" "shutdown_grace" "25s" .Values.config) | trim }}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $grace }}
{{- $unit := trimPrefix $number $grace | trim }}
{{- $scale := get (dict "ms" "0.001" "s" "1" "m" "60" "h" "3600" "d" "86400" "" "1") $unit }}
{{- if or (not $number) (not $scale) }}
{{- fail (printf "config.delivery.shutdown_grace must be a duration such as 25s or 1m, not %q." $grace) }}
{{- end }}
{{- mulf (float64 $number) (float64 $scale) | ceil | int }}
{{- end }}

{{/* The environment each container of the consumer's image gets: the Secret's keys, then extraEnv. */}}
{{- define "mic.env" -}}
# Referenced from config.toml as ${MOVABLEINK_USERNAME} and so on.
{{- range $key := list "MOVABLEINK_USERNAME" "MOVABLEINK_PASSWORD" "KAFKA_SASL_USERNAME" "KAFKA_SASL_PASSWORD" "SCHEMA_REGISTRY_USER_INFO" }}
- name: {{ $key }}
  valueFrom:
    secretKeyRef:
      name: {{ include "mic.secretName" $ }}
      key: {{ $key }}
      {{- if not (hasPrefix "MOVABLEINK_" $key) }}
      optional: true
      {{- end }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* What the consumer's pods and the replay Job's pods share. */}}
{{- define "mic.podCommon" -}}
serviceAccountName: {{ include "mic.fullname" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: config
    configMap:
      name: {{ include "mic.fullname" . }}-config
{{- end }}

{{- define "mic.containerSecurity" -}}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  privileged: false
  capabilities:
    drop: ["ALL"]
volumeMounts:
  - name: config
    mountPath: /etc/movableink-consumer
    readOnly: true
{{- end }}
