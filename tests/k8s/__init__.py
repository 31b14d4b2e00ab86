"""The deployment proven against a real Kubernetes control plane (issue #12, levels b and c)."""
