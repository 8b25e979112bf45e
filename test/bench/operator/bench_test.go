package operator

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
	"github.com/toolmesh/toolmesh/internal/testenv"
)

var (
	managerBin = flag.String("manager", "", "Path of the operator binary (make build).")
	servers    = flag.Int("servers", 1000, "MCPServers to create.")
	idle       = flag.Duration("idle", time.Minute, "How long to count writes once everything is reconciled.")
	extraArgs  = flag.String("manager-args", "", "Extra space-separated flags for the operator (for example --pprof-bind-address=127.0.0.1:6060).")
)

const managerUser = "bench-operator"

const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
`

// Reference figures of the closest peer operator, measured on the same kind of API server.
const (
	peerSeconds, peerWritesPerServer, peerIdleWrites, peerRSSMiB = 115.0, 20.6, 10119.0, 128.0
	targetSeconds, targetWritesPerServer, targetRSSMiB           = 30.0, 5.0, 100.0
)

// BenchmarkOperatorScale creates -servers MCPServers and reports how long the operator takes to
// give every one its Deployment, Service, ServiceAccount and status; its API writes per server;
// its writes during an idle period; and its peak RSS.
func BenchmarkOperatorScale(b *testing.B) {
	if *managerBin == "" {
		b.Fatal("-manager is required: run `make bench-operator`")
	}
	dir := b.TempDir()
	policy := filepath.Join(dir, "audit-policy.yaml")
	auditLog := filepath.Join(dir, "audit.log")
	if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
		b.Fatal(err)
	}
	env, err := testenv.StartWith(testenv.Options{AuditPolicyFile: policy, AuditLogPath: auditLog, ServiceCIDR: "10.96.0.0/16"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	ctx := context.Background()
	for _, ns := range []string{"toolmesh-system", "bench"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			b.Fatal(err)
		}
	}
	pid := startManager(b, env, dir)

	for b.Loop() {
		start := time.Now()
		createServers(b, env.Client, *servers)
		waitAllReconciled(b, env.Client, *servers)
		elapsed := time.Since(start).Seconds()
		writes := countWrites(b, auditLog)

		timer := time.NewTimer(*idle)
		<-timer.C
		idleWrites := countWrites(b, auditLog) - writes
		perMinute := float64(idleWrites) * float64(time.Minute) / float64(*idle)
		rss := peakRSSMiB(b, pid)

		perServer := float64(writes) / float64(*servers)
		b.ReportMetric(elapsed, "s-to-ready")
		b.ReportMetric(perServer, "writes/server")
		b.ReportMetric(perMinute, "idle-writes/min")
		b.ReportMetric(rss, "peak-RSS-MiB")
		fmt.Printf("\n%d MCPServers against a real kube-apiserver:\n", *servers)
		fmt.Printf("  seconds until all reconciled: %7.1f   target <= %.0f (%.2fx of target)   peer %.0f (%.2fx of peer)\n", elapsed, targetSeconds, elapsed/targetSeconds, peerSeconds, elapsed/peerSeconds)
		fmt.Printf("  API writes per server:        %7.2f   target <= %.0f (%.2fx of target)   peer %.1f (%.2fx of peer)\n", perServer, targetWritesPerServer, perServer/targetWritesPerServer, peerWritesPerServer, perServer/peerWritesPerServer)
		fmt.Printf("  writes in an idle minute:     %7.0f   target 0                          peer %.0f\n", perMinute, peerIdleWrites)
		fmt.Printf("  operator peak RSS (MiB):      %7.1f   target <= %.0f (%.2fx of target)   peer %.0f (%.2fx of peer)\n", rss, targetRSSMiB, rss/targetRSSMiB, peerRSSMiB, rss/peerRSSMiB)
	}
}

func startManager(b *testing.B, env *testenv.Env, dir string) int {
	b.Helper()
	user, err := env.AddUser(envtest.User{Name: managerUser, Groups: []string{"system:masters"}})
	if err != nil {
		b.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		b.Fatal(err)
	}
	args := append([]string{"--operator-namespace=toolmesh-system"}, strings.Fields(*extraArgs)...)
	mgr, err := testenv.StartManager(*managerBin, path, filepath.Join(dir, "manager.log"), args...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(mgr.Stop)
	return mgr.PID()
}

func createServers(b *testing.B, c client.Client, n int) {
	b.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				s := &toolmeshv1alpha1.MCPServer{
					ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("server-%04d", i)},
					Spec:       toolmeshv1alpha1.MCPServerSpec{Image: "example.local/mcp:v1", Args: []string{"--id=" + strconv.Itoa(i)}},
				}
				if err := c.Create(context.Background(), s); err != nil {
					errs <- err
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

func waitAllReconciled(b *testing.B, c client.Client, n int) {
	b.Helper()
	ctx := context.Background()
	poll(b, "every server reconciled", 10*time.Minute, func() bool {
		var list toolmeshv1alpha1.MCPServerList
		if err := c.List(ctx, &list, client.InNamespace("bench")); err != nil {
			return false
		}
		done := 0
		for _, s := range list.Items {
			if s.Status.ObservedGeneration == s.Generation && s.Status.URL != "" {
				done++
			}
		}
		if done < n {
			return false
		}
		owned := client.MatchingLabels{"app.kubernetes.io/managed-by": "toolmesh-operator"}
		var deps appsv1.DeploymentList
		var svcs corev1.ServiceList
		var sas corev1.ServiceAccountList
		for _, l := range []client.ObjectList{&deps, &svcs, &sas} {
			if err := c.List(ctx, l, client.InNamespace("bench"), owned); err != nil {
				return false
			}
		}
		return len(deps.Items) == n && len(svcs.Items) == n && len(sas.Items) == n
	})
}

// countWrites counts the write requests the operator's user made, from the API server's audit log.
func countWrites(b *testing.B, path string) int {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var ev struct {
			Stage string `json:"stage"`
			User  struct {
				Username string `json:"username"`
			} `json:"user"`
		}
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Stage == "ResponseComplete" && ev.User.Username == managerUser {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		b.Fatal(err)
	}
	return n
}

func peakRSSMiB(b *testing.B, pid int) float64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, err := strconv.Atoi(strings.Fields(line)[1])
			if err != nil {
				b.Fatal(err)
			}
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/<pid>/status")
	return 0
}

func poll(b *testing.B, what string, timeout time.Duration, ok func() bool) {
	b.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			b.Fatalf("timed out waiting for %s", what)
		}
		t := time.NewTimer(200 * time.Millisecond)
		<-t.C
	}
}
