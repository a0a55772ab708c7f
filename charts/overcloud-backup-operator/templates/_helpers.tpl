{{/*
Hand-written helpers of the generated templates (hack/helmchart writes the others from
config/ with `make chart`).
*/}}

{{/* The prefix of every name: namePrefix, else "<release>-". */}}
{{- define "ocb.prefix" -}}
{{- .Values.namePrefix | default (printf "%s-" .Release.Name) -}}
{{- end }}

{{/* The chart's labels, on every object besides config/'s own. */}}
{{- define "ocb.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{/* The manager's image: repository@digest, else repository:tag (default appVersion). */}}
{{- define "ocb.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end }}

{{/* The manager's flags from the values, after config/'s fixed ones. */}}
{{- define "ocb.managerFlags" -}}
{{- with .Values.watchNamespaces }}
- --watch-namespaces={{ join "," . }}
{{- end }}
{{- with .Values.manager.agentImage }}
- --agent-image={{ . }}
{{- end }}
{{- with .Values.manager.allowedAgentImages }}
- --allowed-agent-images={{ join "," . }}
{{- end }}
{{- with .Values.manager.privilegedNamespaces }}
- --privileged-namespaces={{ join "," . }}
{{- end }}
{{- with .Values.manager.allowedServiceAccounts }}
- --allowed-service-accounts={{ join "," . }}
{{- end }}
{{- if ne (toString .Values.manager.logLevel) "info" }}
- --zap-log-level={{ .Values.manager.logLevel }}
{{- end }}
{{- range .Values.manager.extraArgs }}
- {{ . | quote }}
{{- end }}
{{- end }}

{{/* Where the manager's pod may run. */}}
{{- define "ocb.podScheduling" -}}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
{{- toYaml . | nindent 0 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{- toYaml . | nindent 0 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . }}
{{- end }}
{{- end }}
