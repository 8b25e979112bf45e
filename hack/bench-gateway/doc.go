// Command bench-gateway measures the gateway's added latency and throughput against a direct call and a plain reverse proxy in one run.
package main
