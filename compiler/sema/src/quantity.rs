//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`): exact parsing, comparison, arithmetic.
