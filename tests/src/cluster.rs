//! Harness for tests that need a Kubernetes API server: builds, starts and stops the emulator.
