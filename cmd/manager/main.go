// Command manager runs the Toolmesh operator: the controllers of the toolmesh.io kinds.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
	"github.com/toolmesh/toolmesh/internal/controller"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type options struct {
	metricsAddr       string
	probeAddr         string
	leaderElect       bool
	watchNamespaces   string
	operatorNamespace string
	bridgeImage       string
	concurrency       int
	pprofAddr         string
}

func main() {
	logConfig := textlogger.NewConfig()
	logConfig.AddFlags(flag.CommandLine)
	var o options
	flag.StringVar(&o.metricsAddr, "metrics-bind-address", ":8080", "Address of the Prometheus metrics endpoint; 0 disables it.")
	flag.StringVar(&o.probeAddr, "health-probe-bind-address", ":8081", "Address of the /healthz and /readyz endpoints.")
	flag.BoolVar(&o.leaderElect, "leader-elect", false, "Elect a leader so that only one replica reconciles at a time.")
	flag.StringVar(&o.watchNamespaces, "watch-namespaces", "", "Comma-separated namespaces to watch; empty watches all.")
	flag.StringVar(&o.operatorNamespace, "operator-namespace", envOr("POD_NAMESPACE", "toolmesh-system"),
		"Namespace the operator runs in; ClusterMCPServer workloads run there unless they name a targetNamespace.")
	flag.StringVar(&o.bridgeImage, "stdio-bridge-image", "ghcr.io/toolmesh/stdio-bridge:"+version,
		"Image holding the static stdio-bridge binary, copied into stdio servers' pods.")
	flag.StringVar(&o.pprofAddr, "pprof-bind-address", "", "Address of the pprof endpoints; empty disables them.")
	flag.IntVar(&o.concurrency, "max-concurrent-reconciles", 4, "Servers of each kind reconciled at once.")
	flag.Parse()
	ctrl.SetLogger(textlogger.NewLogger(logConfig))

	if err := run(o); err != nil {
		klog.Background().Error(err, "Operator stopped")
		os.Exit(1)
	}
}

func run(o options) error {
	log := ctrl.Log.WithName("setup")
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return fmt.Errorf("register client-go kinds: %w", err)
	}
	if err := toolmeshv1alpha1.AddToScheme(scheme); err != nil {
		return fmt.Errorf("register toolmesh.io kinds: %w", err)
	}
	cfg, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                  scheme,
		Metrics:                 metricsserver.Options{BindAddress: o.metricsAddr},
		HealthProbeBindAddress:  o.probeAddr,
		PprofBindAddress:        o.pprofAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionID:        "toolmesh-operator.toolmesh.io",
		LeaderElectionNamespace: o.operatorNamespace,
		Cache:                   controller.CacheOptions(splitList(o.watchNamespaces)),
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	err = controller.SetupServerReconcilers(mgr, controller.ServerOptions{
		BridgeImage:             o.bridgeImage,
		OperatorNamespace:       o.operatorNamespace,
		MaxConcurrentReconciles: o.concurrency,
		Discoverer:              &controller.MCPDiscoverer{Version: version},
	})
	if err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add healthz check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add readyz check: %w", err)
	}
	log.Info("Starting operator", "version", version, "operatorNamespace", o.operatorNamespace, "watchNamespaces", o.watchNamespaces)
	if err := mgr.Start(ctrl.SetupSignalHandler()); err != nil {
		return fmt.Errorf("run manager: %w", err)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
