// Package reloader keeps one routing daemon running the config the speaker renders: it watches
// the file, and applies each change through a Daemon (FRR by vtysh delta, with the parser and
// normalization of package reloader/frr; BIRD by `birdc configure`, with package reloader/bird),
// checks the result, and reports it in the files of package daemonfile.
package reloader
