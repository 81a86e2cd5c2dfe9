//go:build tools

// Package tools pins promtool, which hack/promtool.sh builds to check and unit-test the chart's
// PrometheusRule (MetalLB's alerts) against the series routelb exports.
package tools

import (
	_ "github.com/prometheus/prometheus/cmd/promtool"
)
