// Package e2e holds routelb's end-to-end tests: one lab cluster in network namespaces (package lab)
// per test binary, started in TestMain, with the scenarios of docs/lab.md as tests run in sequence.
package e2e
