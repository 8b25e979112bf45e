// Package prom queries GPU metrics from the Prometheus HTTP API, limited to an allow-list of metric names.
package prom
