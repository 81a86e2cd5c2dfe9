package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/routelb/routelb/api/v1beta1"
	"github.com/routelb/routelb/internal/model"
)

// ConditionConfigValid is every component's condition on its ConfigurationState: the objects make
// a valid configuration. (A BGP speaker also sets v1beta1.ConditionRoutingConfigApplied.)
const ConditionConfigValid = "ConfigurationValid"

// maxSummary keeps the error summary well inside an object's size limit.
const maxSummary = 32768

// ConfigState names one component's ConfigurationState, as MetalLB names and labels it.
type ConfigState struct {
	Namespace string
	Name      string // "controller", or "speaker-<node>"
	Labels    map[string]string
	Owner     *metav1.OwnerReference // the component's pod, when known: the object goes with it
}

// ControllerConfigState is the controller's.
func ControllerConfigState(namespace string) ConfigState {
	return ConfigState{Namespace: namespace, Name: "controller", Labels: map[string]string{v1beta1.LabelComponentType: "controller"}}
}

// SpeakerConfigState is a node's speaker's.
func SpeakerConfigState(namespace, node string, owner *metav1.OwnerReference) ConfigState {
	return ConfigState{Namespace: namespace, Name: "speaker-" + node, Owner: owner,
		Labels: map[string]string{v1beta1.LabelComponentType: "speaker", v1beta1.LabelNodeName: node}}
}

// Write makes the ConfigurationState say what the component found: Valid without problems,
// Invalid with every problem in the summary (objects waiting for another one included, as MetalLB
// reports them). It writes only when something changed.
func (s ConfigState) Write(ctx context.Context, c client.Client, ps model.Problems) error {
	st, err := s.getOrCreate(ctx, c)
	if err != nil {
		return err
	}
	want := st.Status.DeepCopy()
	cond := metav1.Condition{Type: ConditionConfigValid, Status: metav1.ConditionTrue, Reason: "Valid",
		Message: "every object is part of the configuration"}
	want.Result, want.ErrorSummary = v1beta1.ConfigurationResultValid, ""
	if len(ps) > 0 {
		want.Result, want.ErrorSummary = v1beta1.ConfigurationResultInvalid, truncate(ps.Error(), maxSummary)
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, "Invalid", fmt.Sprintf("%d problems, listed in errorSummary", len(ps))
		if ps.Waiting() {
			cond.Reason = "Waiting"
			cond.Message = fmt.Sprintf("%d objects wait for objects that do not exist yet, listed in errorSummary", len(ps))
		}
	}
	changed := meta.SetStatusCondition(&want.Conditions, cond)
	if !changed && want.Result == st.Status.Result && want.ErrorSummary == st.Status.ErrorSummary {
		return nil
	}
	st.Status = *want
	if err := c.Status().Update(ctx, st); err != nil {
		return fmt.Errorf("updating ConfigurationState %s: %w", s.Name, err)
	}
	return nil
}

// SetCondition sets one condition of the ConfigurationState (a speaker's RoutingConfigApplied),
// leaving the result, the summary and the other conditions to their writers; it writes only when
// the condition changed. A conflict with another writer is an error: the caller tries again.
func (s ConfigState) SetCondition(ctx context.Context, c client.Client, cond metav1.Condition) error {
	st, err := s.getOrCreate(ctx, c)
	if err != nil {
		return err
	}
	if !meta.SetStatusCondition(&st.Status.Conditions, cond) {
		return nil
	}
	if err := c.Status().Update(ctx, st); err != nil {
		return fmt.Errorf("updating ConfigurationState %s: %w", s.Name, err)
	}
	return nil
}

// getOrCreate reads the ConfigurationState, creating it (labelled, owned by the component's pod)
// when it does not exist yet.
func (s ConfigState) getOrCreate(ctx context.Context, c client.Client) (*v1beta1.ConfigurationState, error) {
	var st v1beta1.ConfigurationState
	err := c.Get(ctx, types.NamespacedName{Namespace: s.Namespace, Name: s.Name}, &st)
	if apierrors.IsNotFound(err) {
		st = v1beta1.ConfigurationState{ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: s.Name, Labels: s.Labels}}
		if s.Owner != nil {
			st.OwnerReferences = []metav1.OwnerReference{*s.Owner}
		}
		err = c.Create(ctx, &st)
	}
	if err != nil {
		return nil, fmt.Errorf("ConfigurationState %s: %w", s.Name, err)
	}
	return &st, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
