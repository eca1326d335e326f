{{- /* The standard labels of every object the chart renders (the CRDs in crds/ are applied as
they are). The selector is a part of them that never changes between versions. */ -}}
{{- define "bulletin.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bulletin
app.kubernetes.io/version: {{ .Chart.AppVersion | trunc 63 | trimSuffix "-" | quote }}
{{ include "bulletin.selector" . }}
{{- end -}}
{{- define "bulletin.selector" -}}
app.kubernetes.io/name: bulletin
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
{{- /* An image reference: repository@digest when a digest is set, else repository:tag (the
chart's appVersion when the tag is empty). */ -}}
{{- define "bulletin.image" -}}
{{- $image := index . 0 }}{{ $chart := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository ($image.tag | default $chart.AppVersion) }}
{{- end }}
{{- end -}}
{{- /* What the operator does with namespaced objects: in a ClusterRole when it watches every
namespace, in a Role per namespace of watchNamespaces otherwise. */ -}}
{{- define "bulletin.operatorRules" -}}
# ReportSchedules: watch, keep kopf's bookkeeping annotations, write status (never spec).
- apiGroups: [bulletin.dev]
  resources: [reportschedules]
  verbs: [get, list, watch, patch]
- apiGroups: [bulletin.dev]
  resources: [reportschedules/status]
  verbs: [get, patch, update]
# ReportCalendars: a schedule's calendarRef must name a valid one (watched, so a schedule
# stalled on a missing calendar recovers); each runner's Role gets `get` on its one calendar.
- apiGroups: [bulletin.dev]
  resources: [reportcalendars]
  verbs: [get, list, watch]
# What each ReportSchedule owns.
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, list, watch, create, update, patch, delete]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create]
# Why a run's Job failed before its runner could say so (the pod's last state).
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list]
# Only the labels of the Secrets and ConfigMaps a schedule names (metadata-only reads): a
# run may use those labelled bulletin.dev/usable-by-reports=<use> (or true).
- apiGroups: [""]
  resources: [secrets, configmaps]
  verbs: [get]
# A bursting schedule's runner Role lets its shards create and update their ledger ConfigMaps
# (RBAC grants only what the granter holds; the operator itself never writes ConfigMaps).
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, update]
# list: one metadata-only LIST per kind at startup instead of a GET per schedule's object.
- apiGroups: [""]
  resources: [serviceaccounts]
  verbs: [get, list, create, update, patch, delete]
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, list, create, update, patch, delete]
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end -}}
{{- /* The console's labels: the standard ones with component console (its own selector). */ -}}
{{- define "bulletin.consoleLabels" -}}
{{ include "bulletin.labels" . | replace "app.kubernetes.io/component: operator" "app.kubernetes.io/component: console" }}
{{- end -}}
{{- define "bulletin.consoleSelector" -}}
app.kubernetes.io/name: bulletin
app.kubernetes.io/component: console
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The run archive's Secret mounted read-only (operator and console): the env, mount and
volume, each as a list item at the caller's indentation. */}}
{{- define "bulletin.archiveEnv" -}}
{{- if (.Values.archive | default dict).enabled }}
{{- if not .Values.archive.existingSecret }}
{{- fail "archive.enabled needs archive.existingSecret: a Secret with the archive's SQLAlchemy URL" }}
{{- end }}
- name: BULLETIN_ARCHIVE_URL_FILE
  value: /etc/bulletin/archive/url
- name: BULLETIN_ARCHIVE_SECRET  # for messages: where the URL comes from
  value: {{ printf "%s/%s:%s" .Release.Namespace .Values.archive.existingSecret .Values.archive.secretKey | quote }}
- name: BULLETIN_ARCHIVE_RETENTION_DAYS
  value: {{ .Values.archive.retentionDays | quote }}
{{- end }}
{{- end }}

{{- define "bulletin.archiveMount" -}}
{{- if (.Values.archive | default dict).enabled }}
- {name: archive, mountPath: /etc/bulletin/archive, readOnly: true}
{{- end }}
{{- end }}

{{- define "bulletin.archiveVolume" -}}
{{- if (.Values.archive | default dict).enabled }}
- name: archive
  secret:
    secretName: {{ .Values.archive.existingSecret }}
    defaultMode: 0440
    items: [{key: {{ .Values.archive.secretKey }}, path: url}]
{{- end }}
{{- end }}
