package controller

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	networkingv1ac "k8s.io/client-go/applyconfigurations/networking/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	toolmeshv1alpha1 "github.com/toolmesh/toolmesh/api/v1alpha1"
)

// CleanupFinalizer removes a ClusterMCPServer's workload from its target namespace, where owner
// references from the cluster-scoped object are not used.
const CleanupFinalizer = "toolmesh.io/cleanup"

// +kubebuilder:rbac:groups=toolmesh.io,resources=mcpservers;clustermcpservers,verbs=get;list;watch;patch
// +kubebuilder:rbac:groups=toolmesh.io,resources=mcpservers/status;clustermcpservers/status,verbs=get;patch
// +kubebuilder:rbac:groups=toolmesh.io,resources=mcpservers/finalizers;clustermcpservers/finalizers,verbs=update
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=services;serviceaccounts,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;patch;delete
// +kubebuilder:rbac:groups="",resources=secrets;configmaps;namespaces,verbs=get
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// ServerOptions configure the MCPServer and ClusterMCPServer reconcilers.
type ServerOptions struct {
	// BridgeImage is the image holding the static stdio-bridge binary, for stdio servers.
	BridgeImage string
	// OperatorNamespace is where ClusterMCPServer workloads run when targetNamespace is unset.
	OperatorNamespace string
	// Discoverer lists servers' tools. Nil disables discovery.
	Discoverer Discoverer
	// MaxConcurrentReconciles is how many servers of one kind are reconciled at once. Defaults to 4.
	MaxConcurrentReconciles int
	// RetryInterval is how long to wait before looking again at a server whose references or
	// target namespace are missing, or whose discovery failed. Defaults to 30s.
	RetryInterval time.Duration
}

// serverObject is implemented by *MCPServer and *ClusterMCPServer.
type serverObject interface {
	client.Object
	ServerSpec() *toolmeshv1alpha1.MCPServerSpec
	ServerStatus() *toolmeshv1alpha1.MCPServerStatus
}

// ServerReconciler reconciles one of the two server kinds. Both kinds share the spec, the
// builders and this implementation; only scope (owner references vs. a cleanup finalizer) differs.
type ServerReconciler[T serverObject] struct {
	client    client.Client
	apiReader client.Reader
	recorder  recorder.EventRecorder
	opts      ServerOptions
	kind      string
	cluster   bool
	newObject func() T
	now       func() time.Time
}

// NewMCPServerReconciler returns the reconciler of namespaced MCPServers.
func NewMCPServerReconciler(mgr ctrl.Manager, opts ServerOptions) *ServerReconciler[*toolmeshv1alpha1.MCPServer] {
	return newServerReconciler(mgr, opts, "MCPServer", false, func() *toolmeshv1alpha1.MCPServer { return &toolmeshv1alpha1.MCPServer{} })
}

// NewClusterMCPServerReconciler returns the reconciler of ClusterMCPServers.
func NewClusterMCPServerReconciler(mgr ctrl.Manager, opts ServerOptions) *ServerReconciler[*toolmeshv1alpha1.ClusterMCPServer] {
	return newServerReconciler(mgr, opts, "ClusterMCPServer", true, func() *toolmeshv1alpha1.ClusterMCPServer { return &toolmeshv1alpha1.ClusterMCPServer{} })
}

func newServerReconciler[T serverObject](mgr ctrl.Manager, opts ServerOptions, kind string, cluster bool, newObject func() T) *ServerReconciler[T] {
	if opts.MaxConcurrentReconciles == 0 {
		opts.MaxConcurrentReconciles = 4
	}
	if opts.RetryInterval == 0 {
		opts.RetryInterval = 30 * time.Second
	}
	return &ServerReconciler[T]{
		client:    mgr.GetClient(),
		apiReader: mgr.GetAPIReader(),
		recorder:  mgr.GetEventRecorder(FieldOwner),
		opts:      opts,
		kind:      kind,
		cluster:   cluster,
		newObject: newObject,
		now:       time.Now,
	}
}

// SetupWithManager registers the reconciler. Owned objects are mapped back to their server by
// label, which works across scopes.
func (r *ServerReconciler[T]) SetupWithManager(mgr ctrl.Manager) error {
	owned := handler.EnqueueRequestsFromMapFunc(r.serverForObject)
	// The reconcile that applied an owned object already accounted for it: its creation needs no
	// second look. Updates (rollout status, hand edits) and deletions do.
	notCreate := builder.WithPredicates(predicate.Funcs{CreateFunc: func(event.CreateEvent) bool { return false }})
	return ctrl.NewControllerManagedBy(mgr).
		Named(r.kind).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.opts.MaxConcurrentReconciles}).
		For(r.newObject(), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&appsv1.Deployment{}, owned, notCreate).
		Watches(&corev1.Service{}, owned, notCreate).
		Watches(&corev1.ServiceAccount{}, owned, notCreate).
		Watches(&networkingv1.NetworkPolicy{}, owned, notCreate).
		Complete(r)
}

func (r *ServerReconciler[T]) serverForObject(_ context.Context, obj client.Object) []reconcile.Request {
	l := obj.GetLabels()
	if l[LabelManagedBy] != ManagedByOperator || l[LabelServerKind] != r.kind || l[LabelServerName] == "" {
		return nil
	}
	key := types.NamespacedName{Name: l[LabelServerName]}
	if !r.cluster {
		key.Namespace = obj.GetNamespace()
	}
	return []reconcile.Request{{NamespacedName: key}}
}

// serverScope is one reconcile of one server: the object, its rendered input and what was
// observed so far. The status is computed from it once, at the end.
type serverScope struct {
	obj     serverObject
	orig    serverObject
	in      serverInput
	obs     serverObservation
	headers map[string]string
	info    *toolmeshv1alpha1.ServerInfo
	lastRun *metav1.Time
}

type serverPhase func(context.Context, *serverScope) (ctrl.Result, error)

// Reconcile brings a server's objects and status in line with its spec.
func (r *ServerReconciler[T]) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, err error) {
	obj := r.newObject()
	if err := r.client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !obj.GetDeletionTimestamp().IsZero() {
		return ctrl.Result{}, r.finalize(ctx, obj)
	}
	if err := r.ensureFinalizer(ctx, obj); err != nil {
		return ctrl.Result{}, err
	}

	s := r.newScope(obj)
	defer func() { err = errors.Join(err, r.writeStatus(ctx, s)) }()
	return runPhases(ctx, s, r.resolveReferences, r.reconcileWorkload, r.observeWorkload, r.discoverTools)
}

func runPhases(ctx context.Context, s *serverScope, phases ...serverPhase) (ctrl.Result, error) {
	var res ctrl.Result
	for _, phase := range phases {
		r, err := phase(ctx, s)
		if err != nil {
			return res, err
		}
		if r.RequeueAfter > 0 && (res.RequeueAfter == 0 || r.RequeueAfter < res.RequeueAfter) {
			res.RequeueAfter = r.RequeueAfter
		}
	}
	return res, nil
}

func (r *ServerReconciler[T]) newScope(obj T) *serverScope {
	spec := obj.ServerSpec()
	in := serverInput{Kind: r.kind, Name: obj.GetName(), Namespace: obj.GetNamespace(), Spec: spec, BridgeImage: r.opts.BridgeImage}
	if r.cluster {
		in.Namespace = r.targetNamespace(spec)
	} else {
		in.Owner = ownerReference(r.kind, obj)
	}
	replicas := int32(1)
	if spec.Deployment != nil {
		replicas = ptr.Deref(spec.Deployment.Replicas, 1)
	}
	var expected []string
	if spec.Discovery != nil {
		expected = spec.Discovery.ExpectedTools
	}
	return &serverScope{
		obj:  obj,
		orig: obj.DeepCopyObject().(serverObject),
		in:   in,
		obs: serverObservation{
			Generation:      obj.GetGeneration(),
			Remote:          spec.Remote != nil,
			DesiredReplicas: replicas,
			ExpectedTools:   expected,
		},
	}
}

func (r *ServerReconciler[T]) targetNamespace(spec *toolmeshv1alpha1.MCPServerSpec) string {
	if spec.TargetNamespace != "" {
		return spec.TargetNamespace
	}
	return r.opts.OperatorNamespace
}

// resolveReferences checks the target namespace and every Secret and ConfigMap the spec needs.
func (r *ServerReconciler[T]) resolveReferences(ctx context.Context, s *serverScope) (ctrl.Result, error) {
	if r.cluster && !s.obs.Remote {
		ok, err := namespaceExists(ctx, r.apiReader, s.in.Namespace)
		if err != nil {
			return ctrl.Result{}, err
		}
		if !ok {
			s.obs.Blocked = &blocker{Reason: toolmeshv1alpha1.ReasonNamespaceNotFound,
				Message: fmt.Sprintf("Waiting for target namespace %s to exist.", s.in.Namespace)}
			return ctrl.Result{RequeueAfter: r.opts.RetryInterval}, nil
		}
	}
	b, headers, err := resolveReferences(ctx, r.apiReader, s.in.Namespace, s.in.Spec)
	if err != nil {
		return ctrl.Result{}, err
	}
	if b != nil {
		s.obs.Blocked = b
		return ctrl.Result{RequeueAfter: r.opts.RetryInterval}, nil
	}
	s.headers = headers
	return ctrl.Result{}, nil
}

// reconcileWorkload applies the server's objects and deletes the ones it no longer needs. A
// blocked server keeps whatever it runs now: nothing is lost while a reference is missing.
func (r *ServerReconciler[T]) reconcileWorkload(ctx context.Context, s *serverScope) (ctrl.Result, error) {
	if s.obs.Blocked != nil {
		return ctrl.Result{}, nil
	}
	keep, err := r.applyWorkload(ctx, s.in)
	if err != nil {
		s.obs.Blocked = &blocker{Reason: toolmeshv1alpha1.ReasonApplyFailed, Message: applyFailureMessage(err)}
		return ctrl.Result{}, err
	}
	return ctrl.Result{}, r.prune(ctx, s.in, keep)
}

// applyWorkload applies what the spec needs and returns the keys of the objects it keeps.
func (r *ServerReconciler[T]) applyWorkload(ctx context.Context, in serverInput) (map[string]bool, error) {
	keep := map[string]bool{}
	if in.Spec.Remote != nil {
		return keep, nil
	}
	key := types.NamespacedName{Namespace: in.Namespace, Name: workloadName(in.Kind, in.Name)}
	log := log.FromContext(ctx)
	if sa := buildServiceAccount(in); sa != nil {
		keep["ServiceAccount/"+key.String()] = true
		if applied, err := applyOwned(ctx, r.client, key, &corev1.ServiceAccount{}, sa, corev1ac.ExtractServiceAccount); err != nil {
			return nil, err
		} else if applied {
			log.V(1).Info("Applied ServiceAccount", "serviceAccount", key)
		}
	}
	keep["Deployment/"+key.String()] = true
	if applied, err := applyOwned(ctx, r.client, key, &appsv1.Deployment{}, buildDeployment(in), appsv1ac.ExtractDeployment); err != nil {
		return nil, err
	} else if applied {
		log.V(1).Info("Applied Deployment", "deployment", key)
	}
	keep["Service/"+key.String()] = true
	if applied, err := applyOwned(ctx, r.client, key, &corev1.Service{}, buildService(in), corev1ac.ExtractService); err != nil {
		return nil, err
	} else if applied {
		log.V(1).Info("Applied Service", "service", key)
	}
	if np := buildNetworkPolicy(in); np != nil {
		keep["NetworkPolicy/"+key.String()] = true
		if applied, err := applyOwned(ctx, r.client, key, &networkingv1.NetworkPolicy{}, np, networkingv1ac.ExtractNetworkPolicy); err != nil {
			return nil, err
		} else if applied {
			log.V(1).Info("Applied NetworkPolicy", "networkPolicy", key)
		}
	}
	return keep, nil
}

// prune deletes objects labelled as this server's that are not in keep: the workload of a server
// that became remote, a NetworkPolicy whose spec.network was removed, objects left in a
// ClusterMCPServer's previous target namespace. With an empty keep it removes everything.
func (r *ServerReconciler[T]) prune(ctx context.Context, in serverInput, keep map[string]bool) error {
	opts := []client.ListOption{client.MatchingLabels{LabelManagedBy: ManagedByOperator, LabelServerKind: in.Kind, LabelServerName: in.Name}}
	if !r.cluster {
		opts = append(opts, client.InNamespace(in.Namespace))
	}
	lists := map[string]client.ObjectList{
		"Deployment": &appsv1.DeploymentList{}, "Service": &corev1.ServiceList{},
		"ServiceAccount": &corev1.ServiceAccountList{}, "NetworkPolicy": &networkingv1.NetworkPolicyList{},
	}
	for kind, list := range lists {
		if err := r.client.List(ctx, list, opts...); err != nil {
			return fmt.Errorf("list %s of %s %s: %w", kind, in.Kind, in.Name, err)
		}
		if err := meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			if keep[kind+"/"+client.ObjectKeyFromObject(obj).String()] {
				return nil
			}
			if err := r.client.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("delete %s %s: %w", kind, client.ObjectKeyFromObject(obj), err)
			}
			log.FromContext(ctx).Info("Deleted object the server no longer needs", "kind", kind, "object", client.ObjectKeyFromObject(obj))
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// observeWorkload reads the server's Deployment from the cache.
func (r *ServerReconciler[T]) observeWorkload(ctx context.Context, s *serverScope) (ctrl.Result, error) {
	if s.obs.Remote {
		return ctrl.Result{}, nil
	}
	var d appsv1.Deployment
	key := types.NamespacedName{Namespace: s.in.Namespace, Name: workloadName(s.in.Kind, s.in.Name)}
	switch err := r.client.Get(ctx, key, &d); {
	case err == nil:
		s.obs.Deployment = &d
	case !apierrors.IsNotFound(err):
		return ctrl.Result{}, fmt.Errorf("get Deployment %s: %w", key, err)
	}
	return ctrl.Result{}, nil
}

// discoverTools lists the server's tools when it is available and the last discovery is older
// than the interval (or was made for an older generation); otherwise it keeps the last result.
func (r *ServerReconciler[T]) discoverTools(ctx context.Context, s *serverScope) (ctrl.Result, error) {
	status := s.orig.ServerStatus()
	s.info, s.lastRun = status.ServerInfo, status.LastDiscoveryTime
	if r.opts.Discoverer == nil || s.obs.Blocked != nil || availableCondition(s.obs).Status != metav1.ConditionTrue {
		return ctrl.Result{}, nil
	}
	interval := discoveryInterval(s.in.Spec)
	prev := meta.FindStatusCondition(status.Conditions, toolmeshv1alpha1.ConditionToolsDiscovered)
	current := prev != nil && prev.ObservedGeneration == s.obs.Generation && prev.Status != metav1.ConditionUnknown
	if current && prev.Status == metav1.ConditionTrue && s.lastRun != nil {
		if wait := interval - r.now().Sub(s.lastRun.Time); wait > 0 {
			s.obs.Discovery = &discoveryOutcome{Tools: status.Tools}
			return ctrl.Result{RequeueAfter: wait}, nil
		}
	}

	target := DiscoveryTarget{URL: serverURL(s.in), Transport: s.in.Spec.Transport.Type, Headers: s.headers}
	if target.Transport == toolmeshv1alpha1.TransportStdio {
		target.Transport = toolmeshv1alpha1.TransportStreamableHTTP
	}
	d, err := r.opts.Discoverer.Discover(ctx, target)
	if err != nil {
		log.FromContext(ctx).V(1).Info("Tool discovery failed", "url", target.URL, "error", err.Error())
		s.obs.Discovery = &discoveryOutcome{Err: describeDiscoveryError(err), Tools: status.Tools}
		return ctrl.Result{RequeueAfter: min(r.opts.RetryInterval, interval)}, nil
	}
	s.obs.Discovery = &discoveryOutcome{Tools: d.Tools}
	s.info, s.lastRun = &d.ServerInfo, &metav1.Time{Time: r.now().Truncate(time.Second)}
	if !toolsEqual(status.Tools, d.Tools) && status.LastDiscoveryTime != nil {
		r.recorder.Eventf(s.obj, nil, corev1.EventTypeNormal, "ToolsChanged", "Discover",
			"The server now lists %d tools (was %d).", len(d.Tools), len(status.Tools))
	}
	return ctrl.Result{RequeueAfter: interval}, nil
}

func discoveryInterval(spec *toolmeshv1alpha1.MCPServerSpec) time.Duration {
	if spec.Discovery != nil && spec.Discovery.Interval != nil {
		return spec.Discovery.Interval.Duration
	}
	return 5 * time.Minute
}

func toolsEqual(a, b []toolmeshv1alpha1.ToolStatus) bool {
	return equality.Semantic.DeepEqual(a, b)
}

// writeStatus computes the status from the scope and writes it once, only when it changed.
func (r *ServerReconciler[T]) writeStatus(ctx context.Context, s *serverScope) error {
	status := s.obj.ServerStatus()
	conds := computeServerConditions(s.obs)
	setConditions(&status.Conditions, conds)
	if len(s.obs.ExpectedTools) == 0 {
		meta.RemoveStatusCondition(&status.Conditions, toolmeshv1alpha1.ConditionToolsPinned)
	}
	status.ObservedGeneration = s.obs.Generation
	status.URL = serverURL(s.in)
	status.ReadyReplicas = 0
	if s.obs.Deployment != nil {
		status.ReadyReplicas = s.obs.Deployment.Status.ReadyReplicas
	}
	if s.obs.Discovery != nil {
		status.Tools = s.obs.Discovery.Tools
		status.ToolCount = int32(len(s.obs.Discovery.Tools))
	}
	status.ServerInfo, status.LastDiscoveryTime = s.info, s.lastRun

	before := s.orig.ServerStatus()
	if equality.Semantic.DeepEqual(before, status) {
		return nil
	}
	if err := r.client.Status().Patch(ctx, s.obj, client.MergeFrom(s.orig)); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("patch status of %s %s: %w", r.kind, client.ObjectKeyFromObject(s.obj), err)
	}
	r.recordReadyTransition(s.obj, before.Conditions, status.Conditions)
	return nil
}

// recordReadyTransition emits an Event when Ready changes status, with the new reason.
func (r *ServerReconciler[T]) recordReadyTransition(obj serverObject, before, after []metav1.Condition) {
	old := meta.FindStatusCondition(before, toolmeshv1alpha1.ConditionReady)
	cur := meta.FindStatusCondition(after, toolmeshv1alpha1.ConditionReady)
	if old == nil || cur == nil || old.Status == cur.Status {
		return
	}
	eventType := corev1.EventTypeNormal
	if cur.Status != metav1.ConditionTrue {
		eventType = corev1.EventTypeWarning
	}
	r.recorder.Eventf(obj, nil, eventType, cur.Reason, "Reconcile", "%s", cur.Message)
}

// ensureFinalizer adds the cleanup finalizer to cluster-scoped servers.
func (r *ServerReconciler[T]) ensureFinalizer(ctx context.Context, obj T) error {
	if !r.cluster || controllerutil.ContainsFinalizer(obj, CleanupFinalizer) {
		return nil
	}
	orig := obj.DeepCopyObject().(client.Object)
	controllerutil.AddFinalizer(obj, CleanupFinalizer)
	if err := r.client.Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		return fmt.Errorf("add finalizer to %s %s: %w", r.kind, obj.GetName(), err)
	}
	return nil
}

// finalize removes a deleted cluster server's objects, then its finalizer. Namespaced servers
// need nothing: their objects carry owner references and the garbage collector removes them.
func (r *ServerReconciler[T]) finalize(ctx context.Context, obj T) error {
	if !controllerutil.ContainsFinalizer(obj, CleanupFinalizer) {
		return nil
	}
	in := serverInput{Kind: r.kind, Name: obj.GetName(), Namespace: obj.GetNamespace(), Spec: obj.ServerSpec()}
	if err := r.prune(ctx, in, nil); err != nil {
		return err
	}
	orig := obj.DeepCopyObject().(client.Object)
	controllerutil.RemoveFinalizer(obj, CleanupFinalizer)
	if err := r.client.Patch(ctx, obj, client.MergeFrom(orig)); err != nil {
		return client.IgnoreNotFound(fmt.Errorf("remove finalizer from %s %s: %w", r.kind, obj.GetName(), err))
	}
	return nil
}

// applyFailureMessage describes a refused apply without request-specific detail.
func applyFailureMessage(err error) string {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return fmt.Sprintf("The API server refused an owned object: %s.", status.Status().Reason)
	}
	return "The API server refused an owned object."
}
