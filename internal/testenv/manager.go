package testenv

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"time"
)

// Manager is a running operator binary.
type Manager struct {
	cmd    *exec.Cmd
	log    *os.File
	exited chan struct{}
}

// StartManager runs the operator binary against the API server of kubeconfig, with its log in
// logPath, and waits until its /readyz answers. The probe listens on a free loopback port, so a
// stale process cannot answer for it.
func StartManager(bin, kubeconfig, logPath string, args ...string) (*Manager, error) {
	probe, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", logPath, err)
	}
	args = append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=" + probe}, args...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	m := &Manager{cmd: cmd, log: logFile, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(m.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-m.exited:
			_ = logFile.Close()
			return nil, errors.New("the operator exited during start-up; see " + logPath)
		case <-time.After(200 * time.Millisecond):
		}
		if resp, err := http.Get("http://" + probe + "/readyz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return m, nil
			}
		}
	}
	m.Stop()
	return nil, errors.New("the operator did not become ready within 30s; see " + logPath)
}

// PID is the operator's process id.
func (m *Manager) PID() int { return m.cmd.Process.Pid }

// Stop interrupts the operator and waits for it to exit, killing it after ten seconds.
func (m *Manager) Stop() {
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		_ = m.cmd.Process.Kill()
		<-m.exited
	}
	_ = m.log.Close()
}

// FreeAddr returns a loopback address with a port nothing listens on.
func FreeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}
