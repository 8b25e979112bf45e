// Package xid holds NVIDIA's published Xid catalogue as embedded data and parses Xid reports from the kernel log.
package xid
