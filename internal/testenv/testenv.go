package testenv

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
)

// Env is a running API server with the Toolmesh CRDs installed.
type Env struct {
	// Config reaches the API server as an administrator.
	Config *rest.Config
	// Client is a controller-runtime client for Config with the Toolmesh kinds registered.
	Client client.Client

	env *envtest.Environment
}

// RepoRoot returns the repository's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Options tune the API server.
type Options struct {
	// AuditPolicyFile and AuditLogPath, when set, make the API server write an audit log.
	AuditPolicyFile, AuditLogPath string
	// ServiceCIDR replaces envtest's default service range (a /24: too small for scale tests).
	ServiceCIDR string
}

// Start starts etcd and kube-apiserver from KUBEBUILDER_ASSETS and installs the CRDs under
// config/crd/bases. It fails with a clear message when the binaries are missing.
func Start() (*Env, error) { return StartWith(Options{}) }

// StartWith is Start with options.
func StartWith(opts Options) (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, errors.New("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, " +
			"or export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("envtest binary %s missing in KUBEBUILDER_ASSETS=%s (build it with hack/envtest-assets.sh): %w", bin, assets, err)
		}
	}
	if err := toolmeshv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return nil, fmt.Errorf("register toolmesh.io/v1alpha1: %w", err)
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	args := env.ControlPlane.GetAPIServer().Configure()
	if opts.ServiceCIDR != "" {
		args.Set("service-cluster-ip-range", opts.ServiceCIDR)
	}
	if opts.AuditLogPath != "" {
		args.Set("audit-policy-file", opts.AuditPolicyFile)
		args.Set("audit-log-path", opts.AuditLogPath)
		args.Set("audit-log-format", "json")
		args.Set("audit-log-mode", "blocking")
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, fmt.Errorf("create client: %w", err)
	}
	return &Env{Config: cfg, Client: c, env: env}, nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error {
	if err := e.env.Stop(); err != nil {
		return fmt.Errorf("stop envtest: %w", err)
	}
	return nil
}

// AddUser provisions a user with the given identity and returns it; its KubeConfig method
// renders a kubeconfig for tools like kubectl.
func (e *Env) AddUser(user envtest.User) (*envtest.AuthenticatedUser, error) {
	u, err := e.env.AddUser(user, nil)
	if err != nil {
		return nil, fmt.Errorf("add user %s: %w", user.Name, err)
	}
	return u, nil
}
