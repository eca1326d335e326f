{{- define "bulletin.labels" -}}
app.kubernetes.io/name: bulletin
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}
{{- define "bulletin.selector" -}}
app.kubernetes.io/name: bulletin
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
