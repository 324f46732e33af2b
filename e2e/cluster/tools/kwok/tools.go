//go:build tools

// Package tools pins kwok, the fake kubelet used by zen-lead's tests.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
)
