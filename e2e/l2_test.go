package e2e

// l2SpeakerArgs are the speaker's Layer 2 flags.
func l2SpeakerArgs() []string { return nil }
