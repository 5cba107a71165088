//! `kdep status`: per app, what runs against what the sources ask for — images, replicas,
//! rollout state with the reasons of a failed rollout, the revision last applied, drift. The
//! reading is kdep-cluster's `status` module; this file is the command line around it.

use clap::Args;
use kdep_cluster::connect;

use super::cluster::{fail, print_stdout, Common, Output, Place};
use super::{Ctx, Exit};

/// Show, per app, whether what runs is what the sources ask for.
///
/// For every app of the environment: its workloads' desired images against the images of the
/// live template, its ReplicaSets and its pods; ready against desired replicas; the rollout
/// state, and for a workload that is not ready its failing pods, their reasons
/// (ImagePullBackOff, CrashLoopBackOff, OOMKilled, Unschedulable, ...), the last warning events
/// and the last lines of the failing container's log; the source revision last applied (from
/// the ApplySet parent); and whether the app has drifted from the sources (the comparison
/// `kdep diff` makes: modified, missing and extra objects). Reads only; changes nothing.
///
/// Exit 0: every app ready and in sync; 1: something is not ready, missing or drifted;
/// 2: error (the package does not build, the cluster cannot be read).
#[derive(Debug, Args)]
#[command(after_help = "JSON output (-o json) is described in docs/clusters.md, section `kdep status`.")]
pub struct StatusArgs {
    #[command(flatten)]
    place: Place,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t = Output::Human)]
    output: Output,
}

impl StatusArgs {
    pub fn run(self, ctx: &Ctx) -> Exit {
        let common = Common { place: self.place, force_conflicts: false, prune: true, output: self.output };
        let (p, rt) = match common.prepare_with_runtime(ctx) {
            Ok(started) => started,
            Err(e) => return e,
        };
        rt.block_on(async {
            let session = match connect(&p.target).await {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let status = match kdep_cluster::status::status(&session, &p.settings, &p.manifests).await {
                Ok(s) => s,
                Err(e) => return fail(&e),
            };
            let text = match self.output {
                Output::Human => status.render(),
                Output::Json => match serde_json::to_string_pretty(&status) {
                    Ok(t) => t + "\n",
                    Err(e) => return fail(&kdep_cluster::Error::new(format!("cannot encode the status: {e}"))),
                },
            };
            if let Err(code) = print_stdout(&text) {
                return code;
            }
            if status.healthy {
                Exit::Success
            } else {
                Exit::SourceErrors
            }
        })
    }
}
