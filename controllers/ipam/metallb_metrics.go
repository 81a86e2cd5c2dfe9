package ipam

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/routelb/routelb/controllers"
	"github.com/routelb/routelb/internal/allocator"
)

// MetalLB's allocator metrics (its internal/allocator/stats.go), under MetalLB's names and labels,
// served beside routelb_allocator_* so that MetalLB's dashboards and pool alerts keep working.
// services_allocated_total is not exported, as in MetalLB: its stats.go declares, registers and
// deletes that gauge but nothing ever sets it, so MetalLB's controller serves no sample of it (a
// vector without children is not exposed), and a dashboard panel on it is empty there too.
var metallbPool = map[string]*prometheus.GaugeVec{}

func metallbGauge(name, help string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "metallb", Subsystem: "allocator", Name: name, Help: help},
		[]string{"pool"})
	metallbPool[name] = g
	return g
}

var (
	mlbTotal  = metallbGauge("addresses_total", "Number of usable IP addresses, per pool")
	mlbTotal4 = metallbGauge("ipv4_addresses_total", "Number of usable IPV4 addresses, per pool")
	mlbTotal6 = metallbGauge("ipv6_addresses_total", "Number of usable IPV6 addresses, per pool")
	mlbInUse  = metallbGauge("addresses_in_use_total", "Number of IP addresses in use, per pool")
	mlbInUse4 = metallbGauge("ipv4_addresses_in_use_total", "Number of IPV4 addresses in use, per pool")
	mlbInUse6 = metallbGauge("ipv6_addresses_in_use_total", "Number of IPV6 addresses in use, per pool")
)

// RegisterMetalLBMetrics puts the controller's metallb_* series on reg: the allocator's and the k8s
// client's.
func RegisterMetalLBMetrics(reg prometheus.Registerer) error {
	for _, g := range metallbPool {
		if err := controllers.RegisterAll(reg, g); err != nil {
			return err
		}
	}
	return controllers.RegisterMetalLBK8sClientMetrics(reg)
}

func observeMetalLBPool(pool string, c allocator.Counts) {
	mlbTotal.WithLabelValues(pool).Set(float64(c.Total()))
	mlbTotal4.WithLabelValues(pool).Set(float64(c.AssignedIPv4 + c.AvailableIPv4))
	mlbTotal6.WithLabelValues(pool).Set(float64(c.AssignedIPv6 + c.AvailableIPv6))
	mlbInUse.WithLabelValues(pool).Set(float64(c.InUse()))
	mlbInUse4.WithLabelValues(pool).Set(float64(c.AssignedIPv4))
	mlbInUse6.WithLabelValues(pool).Set(float64(c.AssignedIPv6))
}

func deleteMetalLBPool(pool string) {
	for _, g := range metallbPool {
		g.DeleteLabelValues(pool)
	}
}
