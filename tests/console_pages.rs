//! The console's audience, masking and service pages in headless Chromium, each against what the
//! API says: 25 named viewers of a live room (online, total, peak, the table sorted and paged, the
//! chart), a channel's levels with the organs each still masks, the running sessions' counters and
//! the link to `/metrics`. Each page's screenshot goes to `target/screenshots/`.

mod common;

use common::browser::Browser;
use common::*;
use serde_json::json;

const VIEWERS: usize = 25;

#[test]
fn the_audience_masking_and_service_pages_show_what_the_api_says() {
    let d = workdir("console-pages");
    let svc = start(&d.join("db.sqlite"));
    let h = svc.http.clone();
    let (_, room) = call("POST", &format!("{h}/rooms"), Some(r#"{"name":"观众 room"}"#));
    let id = room["id"].as_str().unwrap().to_string();
    let _anchor = publish_live(&red_anchor_with_tone(&d), svc.rtmp_port, room["key"]["key"].as_str().unwrap());
    let (st, ses) =
        call("POST", &format!("{h}/sessions"), Some(&json!({"inputs": [{"room": id}], "size": "320x180"}).to_string()));
    assert_eq!(st, 201, "{ses}");
    wait_segments(&format!("{h}{}", ses["hls"].as_str().unwrap()));
    // 25 named viewers, each fetching their playlist once (which counts them as watching).
    for i in 0..VIEWERS {
        let (_, v) =
            call("POST", &format!("{h}/rooms/{id}/viewers"), Some(&json!({"name": format!("观众{i:02}")}).to_string()));
        let url = format!("{h}{}", v["url"].as_str().unwrap());
        wait_for("the viewer's playlist", 20.0, || ureq::get(&url).call().is_ok());
    }
    let (_, api) = call("GET", &format!("{h}/rooms/{id}/audience"), None);
    assert_eq!(api["total"], VIEWERS, "{api}");

    let mut b = Browser::operator_console(&d.join("chromium"), &h);
    b.wait_true("the rooms", 20.0, "document.querySelector('.room')");

    // Audience: the numbers, the chart, 20 rows on page 1 of 2, 5 on page 2, sortable.
    b.navigate(&format!("{h}/console#audience"));
    b.wait_true("the audience numbers", 20.0, "document.querySelector('[data-number=Total]')");
    assert_eq!(b.eval("document.querySelector('[data-number=Total]').textContent"), VIEWERS.to_string());
    // (online now drops as viewers stop fetching: it is read, not compared)
    assert!(b
        .eval("document.querySelector('[data-number=\"Online now\"]').textContent")
        .as_str()
        .is_some_and(|n| n.parse::<u64>().is_ok()));
    assert_eq!(b.eval("document.querySelector('[data-number=Peak]').textContent"), api["peak"].to_string());
    // The chart's last minute of this service's own viewers is the API's.
    let last = api["timeline"].as_array().unwrap().last().unwrap()["online_peak"].as_u64().unwrap();
    b.wait_true("the chart", 10.0, "document.querySelector('#audience-chart svg circle[data-platform=costream]')");
    let dots = b.eval("[...document.querySelectorAll('#audience-chart svg circle[data-platform=costream]')].map((c) => Number(c.dataset.value))");
    assert_eq!(dots.as_array().unwrap().last().and_then(|v| v.as_u64()), Some(last), "{dots}");
    b.wait_true("page 1", 10.0, "document.querySelectorAll('#audience-viewers tbody tr').length === 20");
    b.shot("console-audience.png");
    b.eval("document.querySelector('#audience-viewers button.next').click(); true");
    b.wait_true("page 2", 10.0, "document.querySelectorAll('#audience-viewers tbody tr').length === 5");
    // Sorted by join, newest first by default; ascending after a click: the first viewer first.
    b.eval("document.querySelector('#audience-viewers button.prev').click(); true");
    b.wait_true("page 1 again", 10.0, "document.querySelectorAll('#audience-viewers tbody tr').length === 20");
    // The order is the API's (viewers who joined in the same millisecond come as it gives them).
    let names = |order: &str| {
        let url = format!("{h}/rooms/{id}/audience/viewers?sort=first_join&order={order}&page=0&per_page=20");
        let (_, p) = call("GET", &url, None);
        json!(p["viewers"].as_array().unwrap().iter().map(|v| v["name"].clone()).collect::<Vec<_>>()).to_string()
    };
    let shown = "JSON.stringify([...document.querySelectorAll('#audience-viewers tbody tr')].map((r) => r.cells[0].textContent))";
    assert_eq!(b.eval(shown).as_str().unwrap(), names("desc"));
    b.eval("document.querySelector('#audience-viewers button[data-sort=first_join]').click(); true");
    b.wait_true("ascending", 10.0, &format!("{shown} === {}", json!(names("asc"))));

    // Masking: a channel's levels and what each still masks.
    let rules =
        json!({"levels": [3, 10], "locked": ["eyes", "mouth"], "unlock_order": ["mouth", "eyes"], "sigma": 10.0});
    assert_eq!(call("PUT", &format!("{h}/channels/show"), Some(&rules.to_string())).0, 200);
    b.navigate(&format!("{h}/console#masking"));
    b.wait_true("the masking page", 20.0, "document.querySelector('#main form input[name=channel]')");
    b.eval("{ const f = document.querySelector('#main form'); f.channel.value = 'show'; f.requestSubmit(); } true");
    b.wait_true("the channel's levels", 20.0, "document.querySelectorAll('table.levels tbody tr').length === 3");
    let masked = b.eval("[...document.querySelectorAll('table.levels tbody tr')].map((r) => r.cells[2].textContent)");
    assert_eq!(masked, json!(["eyes, mouth", "eyes", "none"]), "level L unlocks the first L organs of the order");
    b.shot("console-masking.png");

    // Service: the session's counters, and /metrics reachable with the console's cookie.
    b.navigate(&format!("{h}/console#service"));
    b.wait_true("the service page", 20.0, "document.querySelectorAll('#service tbody tr').length === 1");
    let frames: u64 =
        b.eval("document.querySelector('#service tbody tr').cells[2].textContent").as_str().unwrap().parse().unwrap();
    assert!(frames > 0, "the session composes");
    // Its stage times: the GPU composite and the encode take time on every frame.
    b.wait_true(
        "the stage times",
        20.0,
        "(() => { const c = document.querySelector('#service tbody tr').cells; return +c[7].textContent > 0 && +c[8].textContent > 0; })()",
    );
    assert_eq!(
        b.eval("fetch(document.querySelector('#service a[href=\"/metrics\"]').href).then((r) => r.status)"),
        200
    );
    b.shot("console-service.png");
}
