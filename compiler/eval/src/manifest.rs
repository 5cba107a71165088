//! Emitted Kubernetes objects: namespace assignment, kdep labels and annotations, stable ordering.
