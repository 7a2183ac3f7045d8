{{/* Names, labels and the settings the templates share. */}}

{{- define "kcr.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kcr.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kcr.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kcr.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kcr.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "kcr.labels" -}}
helm.sh/chart: {{ include "kcr.chart" . }}
{{ include "kcr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "kcr.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kcr.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kcr.secretName" -}}
{{- default (include "kcr.fullname" .) .Values.api.existingSecret -}}
{{- end -}}

{{/* The namespace of the sandbox pods. */}}
{{- define "kcr.sandboxNamespace" -}}
{{- default .Release.Namespace .Values.execution.namespace -}}
{{- end -}}

{{/* "true" when the runner is reached through the API server's pod proxy. */}}
{{- define "kcr.viaProxy" -}}
{{- if eq .Values.execution.runnerAccess "proxy" -}}true{{- end -}}
{{- end -}}

{{/* Labels every sandbox pod carries (lib/sandbox/kubernetes_manifest.c). */}}
{{- define "kcr.sandboxSelector" -}}
app.kubernetes.io/managed-by: kcr
app.kubernetes.io/component: sandbox
{{- end -}}

{{- define "kcr.redisHost" -}}
{{- if .Values.redis.enabled -}}{{ include "kcr.fullname" . }}-redis{{- else -}}{{ .Values.redis.host }}{{- end -}}
{{- end -}}

{{- define "kcr.useRedis" -}}
{{- if or .Values.redis.enabled .Values.redis.url .Values.redis.host -}}true{{- end -}}
{{- end -}}

{{- define "kcr.useS3" -}}
{{- if or .Values.minio.enabled .Values.minio.endpoint -}}true{{- end -}}
{{- end -}}

{{- define "kcr.s3Endpoint" -}}
{{- if .Values.minio.enabled -}}http://{{ include "kcr.fullname" . }}-minio:9000{{- else -}}{{ .Values.minio.endpoint }}{{- end -}}
{{- end -}}

{{/* Refuses values that would render a broken release. */}}
{{- define "kcr.validate" -}}
{{- $several := or (gt (int .Values.replicaCount) 1) .Values.autoscaling.enabled -}}
{{- if and $several (not (and (include "kcr.useRedis" .) (include "kcr.useS3" .))) -}}
{{- fail "several replicas (replicaCount > 1 or autoscaling.enabled) need shared stores: set redis.enabled or redis.url/redis.host, and minio.enabled or minio.endpoint" -}}
{{- end -}}
{{- end -}}

{{/* kcr.yaml: what the values say, then .Values.config over it. */}}
{{- define "kcr.config" -}}
{{- $e := .Values.execution -}}
{{- $k := dict
  "in_cluster" "true"
  "namespace" (include "kcr.sandboxNamespace" .)
  "image_registry" $e.imageRegistry
  "image_pull_policy" $e.imagePullPolicy
  "runner_access" $e.runnerAccess
  "run_as_user" $e.securityContext.runAsUser
  "seccomp_profile" $e.securityContext.seccompProfileType
  "job_ttl_seconds" $e.jobs.ttlSecondsAfterFinished
  "job_deadline_seconds" $e.jobs.activeDeadlineSeconds
-}}
{{- with $e.imageTag }}{{ $_ := set $k "image_tag" . }}{{ end -}}
{{- with $e.imagePullSecrets }}{{ $_ := set $k "image_pull_secrets" . }}{{ end -}}
{{- with $e.serviceAccount }}{{ $_ := set $k "service_account" . }}{{ end -}}
{{- with $e.scheduling.runtimeClassName }}{{ $_ := set $k "runtime_class" . }}{{ end -}}
{{- with $e.scheduling.nodeSelector }}{{ $_ := set $k "node_selector" (toJson .) }}{{ end -}}
{{- with $e.scheduling.tolerations }}{{ $_ := set $k "tolerations" (toJson .) }}{{ end -}}
{{- with $e.resources.limits }}
{{- with .cpu }}{{ $_ := set $k "cpu_limit" (toString .) }}{{ end -}}
{{- with .memory }}{{ $_ := set $k "memory_limit" (toString .) }}{{ end -}}
{{- end -}}
{{- with $e.resources.requests }}
{{- with .cpu }}{{ $_ := set $k "cpu_request" (toString .) }}{{ end -}}
{{- with .memory }}{{ $_ := set $k "memory_request" (toString .) }}{{ end -}}
{{- end -}}
{{- $pool := deepCopy $e.pool -}}
{{- /* KubeCodeRun's execution.languages.<name>: kcr's ids; execution.pool and .images win */}}
{{- $ids := dict "python" "py" "javascript" "js" "typescript" "ts" "go" "go" "java" "java" "rust" "rs" "c" "c" "cpp" "cpp" "php" "php" "r" "r" "fortran" "f90" "d" "d" "bash" "bash" -}}
{{- range $name, $l := $e.languages -}}
{{- $id := get $ids $name -}}
{{- if and (hasKey $l "poolSize") (not (hasKey $e.pool $id)) }}{{ $_ := set $pool $id $l.poolSize }}{{ end -}}
{{- with $l.image }}{{ $_ := set $k (printf "image_%s" $id) . }}{{ end -}}
{{- with ($l.resources | default dict).limits -}}
{{- with .cpu }}{{ $_ := set $k (printf "cpu_limit_%s" $id) (toString .) }}{{ end -}}
{{- with .memory }}{{ $_ := set $k (printf "memory_limit_%s" $id) (toString .) }}{{ end -}}
{{- end -}}
{{- end -}}
{{- range $lang, $image := $e.images }}{{ $_ := set $k (printf "image_%s" $lang) $image }}{{ end -}}
{{- $server := dict "listen" "0.0.0.0:8000" "metrics_public" .Values.metrics.public -}}
{{- with .Values.api.corsOrigins }}{{ $_ := set $server "cors_origins" . }}{{ end -}}
{{- with .Values.api.trustedProxies }}{{ $_ := set $server "trusted_proxies" . }}{{ end -}}
{{- $store := dict "sessions" "fs" "files" "fs" -}}
{{- if include "kcr.useRedis" . -}}
{{- $_ := set $store "sessions" "redis" -}}
{{- $r := dict "port" .Values.redis.port "db" .Values.redis.db "prefix" .Values.redis.keyPrefix "pool_size" .Values.redis.maxConnections -}}
{{- with include "kcr.redisHost" . }}{{ $_ := set $r "host" . }}{{ end -}}
{{- $_ := set $store "redis" $r -}}
{{- end -}}
{{- if include "kcr.useS3" . -}}
{{- $_ := set $store "files" "s3" -}}
{{- $_ := set $store "s3" (dict "endpoint" (include "kcr.s3Endpoint" .) "bucket" .Values.minio.bucket "region" .Values.minio.region "secure" .Values.minio.secure "create_bucket" .Values.minio.createBucket) -}}
{{- end -}}
{{- $cfg := dict
  "state_dir" "/var/lib/kcr"
  "log" (dict "level" .Values.api.logLevel "format" .Values.api.logFormat)
  "server" $server
  "sandbox" (dict "provider" "kubernetes")
  "store" $store
  "kubernetes" $k
  "limits" (dict "timeout" $e.maxExecutionTime)
  "pool" $pool
-}}
{{- toYaml (mustMergeOverwrite $cfg (deepCopy .Values.config)) -}}
{{- end -}}
