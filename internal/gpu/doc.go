// Package gpu is the GPU domain: what a node's GPUs report, the Collector that reads it, and the health verdicts drawn from it.
package gpu
