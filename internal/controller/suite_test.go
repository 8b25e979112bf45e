package controller

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
	"github.com/toolmesh/toolmesh/internal/testenv"
)

const (
	operatorNamespace = "toolmesh-system"
	bridgeImage       = "example.local/stdio-bridge:test"
)

var (
	env       *testenv.Env
	k8sClient client.Client
)

// TestMain runs every test of this package against one real API server and one manager running
// both server reconcilers, as the operator binary does.
func TestMain(m *testing.M) {
	code, err := runSuite(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}

func runSuite(m *testing.M) (int, error) {
	var err error
	env, err = testenv.Start()
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return 0, err
	}
	if err := toolmeshv1alpha1.AddToScheme(scheme); err != nil {
		return 0, err
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   CacheOptions(nil),
	})
	if err != nil {
		return 0, fmt.Errorf("create manager: %w", err)
	}
	err = SetupServerReconcilers(mgr, ServerOptions{
		BridgeImage:       bridgeImage,
		OperatorNamespace: operatorNamespace,
		Discoverer:        &MCPDiscoverer{Timeout: 5 * time.Second, Version: "test"},
		RetryInterval:     time.Second,
	})
	if err != nil {
		return 0, err
	}
	k8sClient, err = client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}()

	if err := createNamespace(ctx, operatorNamespace); err != nil {
		return 0, err
	}
	return m.Run(), nil
}
