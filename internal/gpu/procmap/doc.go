// Package procmap names the process, pod and container behind a PID from /proc.
package procmap
