"""The Bulletin web console: server-rendered pages over ReportSchedules, where every
Kubernetes call is made with the requesting user's own credentials (their kubeconfig, their
bearer token, or impersonation of a user named by a trusted proxy)."""
