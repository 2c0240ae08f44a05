//! W4 on 64 KiB pages: the overrun itself. The oracle reports W4 at once
//! as N1 (see tests/catalog.rs); here only the model's own KASAN-style
//! checks run, to show the slab-out-of-bounds read the bug causes when a
//! page holds 512 notes.

use wqsim_model::Inv;
use wqsim_model::api::Outcome;
use wqsim_model::api::ops::*;
use wqsim_model::bugs::Bug;
use wqsim_model::kernel::Config;
use wqsim_model::seq::SeqRun;

fn run(config: Config) -> Result<usize, wqsim_model::Violation> {
    let mut run = SeqRun::new(config);
    for op in [notification_pipe(0), set_size(0, 129), user_key(0, "k"), watch(0, 0, 1)] {
        run.step_unchecked(&op)?;
    }
    let mut posted = 0;
    for _ in 0..300 {
        assert_eq!(run.step_unchecked(&update(0))?, Outcome::Ok(0));
        posted += 1;
    }
    Ok(posted)
}

/// With 64 KiB pages, SET_SIZE(129) sizes the bitmap for 129 notes (three
/// words) while nr_notes is 512; the 193rd post scans a fourth word.
#[test]
fn w4_reads_past_the_bitmap_with_64k_pages() {
    let config = Config { page_size: 65536, ..Config::default() };
    assert_eq!(run(config.clone()).unwrap(), 300, "fixed: posts beyond the ring are lost, nothing overruns");
    let v = run(config.with_bug(Bug::W4)).unwrap_err();
    assert_eq!(v.inv, Inv::H3);
    assert!(
        v.message
            .contains("slab-out-of-bounds: wqueue->notes_bitmap[3] of 3 elements accessed in post_one_notification"),
        "{v}"
    );
}

/// With 4 KiB pages the same program never reads past the bitmap: the
/// word rounding hides the overrun (and N1 is what catches W4).
#[test]
fn w4_is_hidden_by_word_rounding_with_4k_pages() {
    assert_eq!(run(Config::default().with_bug(Bug::W4)).unwrap(), 300);
}
