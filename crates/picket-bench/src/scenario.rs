//! The conditions a scan is measured under: what the target's firewall does.

use std::fmt;
use std::time::Duration;

use picket_lab::Firewall;

/// The SYN rate above which the `ban` scenario bans a source.
pub const BAN_SYN_PER_SECOND: u32 = 1_000;
/// How long the `ban` scenario bans a source.
pub const BAN_DURATION: Duration = Duration::from_secs(10);

/// One benchmark scenario: the rules in front of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Scenario {
    /// No rules.
    Clean,
    /// 3 % of packets lost at random, each way.
    Loss3,
    /// An IPS passing 2,000 SYNs per second (burst 5) and dropping the rest.
    Ips2000,
    /// An IPS banning a source for 10 s once it sends more than 1,000 SYNs per second.
    Ban,
}

impl Scenario {
    /// Every scenario, in the order the table lists them.
    pub const ALL: [Scenario; 4] = [
        Scenario::Clean,
        Scenario::Loss3,
        Scenario::Ips2000,
        Scenario::Ban,
    ];

    /// The name used on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Clean => "clean",
            Scenario::Loss3 => "loss3",
            Scenario::Ips2000 => "ips2000",
            Scenario::Ban => "ban",
        }
    }

    /// The target's firewall in this scenario.
    pub fn firewall(self) -> Firewall {
        match self {
            Scenario::Clean => Firewall::new(),
            Scenario::Loss3 => Firewall::new().random_loss(3),
            Scenario::Ips2000 => Firewall::new().syn_rate_limit(2_000),
            Scenario::Ban => Firewall::new().ban_after(BAN_SYN_PER_SECOND, BAN_DURATION),
        }
    }

    /// One line for the results' notes.
    pub fn description(self) -> String {
        match self {
            Scenario::Clean => "no firewall rules".to_owned(),
            Scenario::Loss3 => {
                "3 % of packets dropped at random in each direction (nft `numgen random`)"
                    .to_owned()
            }
            Scenario::Ips2000 => "SYNs above 2,000/s (burst 5, all sources) dropped, like an IPS; \
                 a full-range scan cannot finish in under ~33 s"
                .to_owned(),
            Scenario::Ban => format!(
                "a source sending more than {BAN_SYN_PER_SECOND} SYNs/s is banned \
                 (every packet dropped) for {} s, then may try again",
                BAN_DURATION.as_secs()
            ),
        }
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn command_line_names_are_the_table_names() {
        for scenario in Scenario::ALL {
            let parsed = Scenario::from_str(scenario.name(), false).unwrap();
            assert_eq!(parsed, scenario);
        }
    }

    #[test]
    fn each_scenario_has_its_rules() {
        assert!(!Scenario::Clean.firewall().render().contains("drop"));
        assert!(
            Scenario::Loss3
                .firewall()
                .render()
                .contains("mod 100 < 3 drop")
        );
        assert!(
            Scenario::Ips2000
                .firewall()
                .render()
                .contains("over 2000/second")
        );
        assert!(Scenario::Ban.firewall().render().contains("timeout 10s"));
    }
}
