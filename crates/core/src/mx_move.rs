//! A planned move to new MX hosts (a customer changing mail providers), as a sequence of
//! policy versions that never leaves a sender with a cached policy that refuses the hosts
//! the domain's MX records name.
//!
//! A sender keeps a fetched policy for its `max_age` (RFC 8461 §5.1). So the new hosts must
//! be in the policy at least `max_age` before the MX records switch, and the old ones may
//! leave only after the switch:
//!
//! 1. **cover** (at once): the old and new patterns, `max_age` unchanged;
//! 2. **shorten** (`max_age` before the move): the same patterns with `max_age` lowered to a
//!    day, so that every cache expires within a day of any later change;
//! 3. **move** (the date the user named): the customer switches the MX records;
//! 4. **finish** (a day after the move): the new patterns only, the original `max_age` —
//!    only once every MX host the domain names matches a new pattern, so a late switch
//!    holds the plan instead of refusing mail.

use time::{Duration, OffsetDateTime};

use crate::error::MovePlanError;
use crate::mode::{MaxAge, Mode};
use crate::mx::MxPattern;
use crate::policy::Policy;

/// The `max_age` while the move is under way, and how long after the move the final version
/// waits: one day.
pub const SHORT_MAX_AGE: u32 = 86_400;
/// The earliest move date, counted from the plan: an hour.
pub const MIN_LEAD: Duration = Duration::hours(1);
/// The latest move date, counted from the plan: 400 days.
pub const MAX_LEAD: Duration = Duration::days(400);

/// A step of a planned move, in the order they happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MoveStep {
    /// Old and new patterns, the original `max_age`.
    Cover,
    /// Old and new patterns, `max_age` lowered to [`SHORT_MAX_AGE`].
    Shorten,
    /// The customer switches the MX records (no version of stsd's).
    Move,
    /// New patterns only, the original `max_age`.
    Finish,
}

impl MoveStep {
    /// Every step, in order.
    pub const ALL: [MoveStep; 4] = [
        MoveStep::Cover,
        MoveStep::Shorten,
        MoveStep::Move,
        MoveStep::Finish,
    ];

    /// The step's name in the API (`cover`, `shorten`, `move`, `finish`).
    pub fn as_str(self) -> &'static str {
        match self {
            MoveStep::Cover => "cover",
            MoveStep::Shorten => "shorten",
            MoveStep::Move => "move",
            MoveStep::Finish => "finish",
        }
    }
}

/// A planned move: the patterns before and after, the move date and the `max_age` to return
/// to. The mode is not part of it: each step keeps the mode the policy has when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovePlan {
    old_mx: Vec<MxPattern>,
    new_mx: Vec<MxPattern>,
    original_max_age: MaxAge,
    created_at: OffsetDateTime,
    move_at: OffsetDateTime,
}

impl MovePlan {
    /// Plans a move away from `current`'s patterns to `new_mx` on `move_at`, planned at
    /// `now`. Refused: a `none` policy (it covers no host, there is nothing to move), no new
    /// patterns, the same patterns as now, a date under [`MIN_LEAD`] or over [`MAX_LEAD`]
    /// away, or more patterns together than a policy may hold.
    pub fn new(
        current: &Policy,
        new_mx: Vec<MxPattern>,
        move_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<MovePlan, MovePlanError> {
        if current.mode() == Mode::None {
            return Err(MovePlanError::ModeNone);
        }
        if new_mx.is_empty() {
            return Err(MovePlanError::NoNewMx);
        }
        let mut same = new_mx.len() == current.mx().len();
        same &= new_mx.iter().all(|p| current.mx().contains(p));
        if same {
            return Err(MovePlanError::Unchanged);
        }
        if move_at < now + MIN_LEAD {
            return Err(MovePlanError::TooSoon);
        }
        if move_at > now + MAX_LEAD {
            return Err(MovePlanError::TooLate);
        }
        let plan = MovePlan {
            old_mx: current.mx().to_vec(),
            new_mx,
            original_max_age: current.max_age(),
            created_at: now,
            move_at,
        };
        // Both ends must be valid policies: duplicates among the new patterns, and the
        // union's size, are refused here rather than at a step months later.
        plan.policy(MoveStep::Cover, current.mode())
            .map_err(MovePlanError::Policy)?;
        plan.policy(MoveStep::Finish, current.mode())
            .map_err(MovePlanError::Policy)?;
        Ok(plan)
    }

    /// A plan as stored, without the checks of [`MovePlan::new`] (they held when it was made).
    pub fn from_parts(
        old_mx: Vec<MxPattern>,
        new_mx: Vec<MxPattern>,
        original_max_age: MaxAge,
        created_at: OffsetDateTime,
        move_at: OffsetDateTime,
    ) -> MovePlan {
        MovePlan {
            old_mx,
            new_mx,
            original_max_age,
            created_at,
            move_at,
        }
    }

    /// The patterns before the move.
    pub fn old_mx(&self) -> &[MxPattern] {
        &self.old_mx
    }

    /// The patterns after the move.
    pub fn new_mx(&self) -> &[MxPattern] {
        &self.new_mx
    }

    /// The `max_age` before the move, and again after it.
    pub fn original_max_age(&self) -> MaxAge {
        self.original_max_age
    }

    /// The `max_age` while the move is under way: a day, or the original if that is shorter.
    pub fn short_max_age(&self) -> MaxAge {
        self.original_max_age
            .min(MaxAge::new(SHORT_MAX_AGE).unwrap_or(MaxAge::MAX))
    }

    /// When the plan was made (the cover step).
    pub fn created_at(&self) -> OffsetDateTime {
        self.created_at
    }

    /// When the customer switches the MX records.
    pub fn move_at(&self) -> OffsetDateTime {
        self.move_at
    }

    /// When a step is due.
    pub fn due_at(&self, step: MoveStep) -> OffsetDateTime {
        match step {
            MoveStep::Cover => self.created_at,
            MoveStep::Shorten => {
                let ahead = Duration::seconds(i64::from(self.original_max_age.get()));
                (self.move_at - ahead).max(self.created_at)
            }
            MoveStep::Move => self.move_at,
            MoveStep::Finish => self.move_at + Duration::seconds(i64::from(SHORT_MAX_AGE)),
        }
    }

    /// From when on no sender can hold a policy without the new hosts: the plan's time plus
    /// the original `max_age`. When that is after the move, senders that fetched the policy
    /// just before the plan may refuse the new hosts until then.
    pub fn covered_everywhere_at(&self) -> OffsetDateTime {
        self.created_at + Duration::seconds(i64::from(self.original_max_age.get()))
    }

    /// Whether the move date leaves senders' caches too little time ([`Self::covered_everywhere_at`]
    /// is after it).
    pub fn is_early(&self) -> bool {
        self.covered_everywhere_at() > self.move_at
    }

    /// The policy a step publishes in `mode`; `None` for [`MoveStep::Move`], which publishes
    /// nothing.
    pub fn policy(&self, step: MoveStep, mode: Mode) -> Result<Option<Policy>, crate::PolicyError> {
        let both = || {
            let mut mx = self.old_mx.clone();
            mx.extend(
                self.new_mx
                    .iter()
                    .filter(|p| !self.old_mx.contains(p))
                    .cloned(),
            );
            mx
        };
        let policy = match step {
            MoveStep::Cover => Policy::new(mode, both(), self.original_max_age)?,
            MoveStep::Shorten => Policy::new(mode, both(), self.short_max_age())?,
            MoveStep::Move => return Ok(None),
            MoveStep::Finish => Policy::new(mode, self.new_mx.clone(), self.original_max_age)?,
        };
        Ok(Some(policy))
    }

    /// The policy `step` publishes when the policy is `latest`: `latest`'s mode; for the
    /// steps that keep the old hosts, `latest`'s patterns (edits since the plan kept) and the
    /// new ones. `None` for [`MoveStep::Move`].
    pub fn policy_after(
        &self,
        step: MoveStep,
        latest: &Policy,
    ) -> Result<Option<Policy>, crate::PolicyError> {
        let Some(planned) = self.policy(step, latest.mode())? else {
            return Ok(None);
        };
        if step == MoveStep::Finish {
            return Ok(Some(planned));
        }
        let mut mx = latest.mx().to_vec();
        mx.extend(
            self.new_mx
                .iter()
                .filter(|p| !latest.mx().contains(p))
                .cloned(),
        );
        Policy::new(latest.mode(), mx, planned.max_age()).map(Some)
    }

    /// The MX hosts of `hosts` that no new pattern matches: the finish step waits while
    /// there are any.
    pub fn not_moved<'a>(&self, hosts: &'a [String]) -> Vec<&'a str> {
        hosts
            .iter()
            .map(String::as_str)
            .filter(|h| !self.new_mx.iter().any(|p| p.matches(h)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000 + s).unwrap()
    }

    fn mx(list: &[&str]) -> Vec<MxPattern> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    fn current(mode: Mode, max_age: u32) -> Policy {
        Policy::new(
            mode,
            mx(&["mx1.old.example", "mx2.old.example"]),
            MaxAge::new(max_age).unwrap(),
        )
        .unwrap()
    }

    const WEEK: i64 = 604_800;
    const DAY: i64 = 86_400;

    #[test]
    fn a_move_a_month_ahead_walks_cover_shorten_move_finish() {
        let plan = MovePlan::new(
            &current(Mode::Enforce, 604_800),
            mx(&["*.new.example"]),
            at(30 * DAY),
            at(0),
        )
        .unwrap();
        assert_eq!(plan.due_at(MoveStep::Cover), at(0));
        assert_eq!(plan.due_at(MoveStep::Shorten), at(30 * DAY - WEEK));
        assert_eq!(plan.due_at(MoveStep::Move), at(30 * DAY));
        assert_eq!(plan.due_at(MoveStep::Finish), at(31 * DAY));
        assert!(!plan.is_early());

        let cover = plan
            .policy(MoveStep::Cover, Mode::Enforce)
            .unwrap()
            .unwrap();
        let patterns: Vec<&str> = cover.mx().iter().map(MxPattern::as_str).collect();
        assert_eq!(
            patterns,
            ["mx1.old.example", "mx2.old.example", "*.new.example"]
        );
        assert_eq!(cover.max_age().get(), 604_800);
        let short = plan
            .policy(MoveStep::Shorten, Mode::Enforce)
            .unwrap()
            .unwrap();
        assert_eq!(short.mx(), cover.mx());
        assert_eq!(short.max_age().get(), 86_400);
        assert!(
            plan.policy(MoveStep::Move, Mode::Enforce)
                .unwrap()
                .is_none()
        );
        let finish = plan
            .policy(MoveStep::Finish, Mode::Testing)
            .unwrap()
            .unwrap();
        assert_eq!(finish.mx(), mx(&["*.new.example"]).as_slice());
        assert_eq!(finish.max_age().get(), 604_800);
        assert_eq!(finish.mode(), Mode::Testing);
    }

    #[test]
    fn a_move_sooner_than_max_age_shortens_at_once_and_is_early() {
        let plan = MovePlan::new(
            &current(Mode::Enforce, 604_800),
            mx(&["mx1.new.example"]),
            at(2 * DAY),
            at(0),
        )
        .unwrap();
        assert_eq!(plan.due_at(MoveStep::Shorten), at(0));
        assert!(plan.is_early());
        assert_eq!(plan.covered_everywhere_at(), at(WEEK));
    }

    #[test]
    fn a_short_max_age_stays_as_it_is() {
        let plan = MovePlan::new(
            &current(Mode::Testing, 3_600),
            mx(&["mx1.new.example"]),
            at(DAY),
            at(0),
        )
        .unwrap();
        assert_eq!(plan.short_max_age().get(), 3_600);
        assert!(!plan.is_early());
    }

    #[test]
    fn a_kept_pattern_appears_once() {
        let plan = MovePlan::new(
            &current(Mode::Enforce, 86_400),
            mx(&["mx2.old.example", "mx1.new.example"]),
            at(DAY),
            at(0),
        )
        .unwrap();
        let cover = plan
            .policy(MoveStep::Cover, Mode::Enforce)
            .unwrap()
            .unwrap();
        assert_eq!(cover.mx().len(), 3);
    }

    #[test]
    fn bad_plans_are_refused_with_their_reason() {
        let now = at(0);
        let enforce = current(Mode::Enforce, 86_400);
        let new = mx(&["mx.new.example"]);
        let none = Policy::new(Mode::None, Vec::new(), MaxAge::new(86_400).unwrap()).unwrap();
        assert_eq!(
            MovePlan::new(&none, new.clone(), at(DAY), now),
            Err(MovePlanError::ModeNone)
        );
        assert_eq!(
            MovePlan::new(&enforce, Vec::new(), at(DAY), now),
            Err(MovePlanError::NoNewMx)
        );
        assert_eq!(
            MovePlan::new(
                &enforce,
                mx(&["mx2.old.example", "mx1.old.example"]),
                at(DAY),
                now
            ),
            Err(MovePlanError::Unchanged)
        );
        assert_eq!(
            MovePlan::new(&enforce, new.clone(), at(60), now),
            Err(MovePlanError::TooSoon)
        );
        assert_eq!(
            MovePlan::new(&enforce, new.clone(), at(401 * DAY), now),
            Err(MovePlanError::TooLate)
        );
        assert!(matches!(
            MovePlan::new(
                &enforce,
                mx(&["a.new.example", "a.new.example"]),
                at(DAY),
                now
            ),
            Err(MovePlanError::Policy(_))
        ));
        let many: Vec<MxPattern> = (0..63)
            .map(|i| format!("mx{i}.new.example").parse().unwrap())
            .collect();
        assert!(matches!(
            MovePlan::new(&enforce, many, at(DAY), now),
            Err(MovePlanError::Policy(crate::PolicyError::TooManyMx {
                count: 65
            }))
        ));
    }

    #[test]
    fn hosts_not_yet_moved_are_named() {
        let plan = MovePlan::new(
            &current(Mode::Enforce, 86_400),
            mx(&["*.new.example"]),
            at(DAY),
            at(0),
        )
        .unwrap();
        let hosts = vec!["mx1.new.example".to_owned(), "mx1.old.example".to_owned()];
        assert_eq!(plan.not_moved(&hosts), ["mx1.old.example"]);
    }
}
