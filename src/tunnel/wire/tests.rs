use super::*;

fn head<'a>(method: &'a Method, upgrade: Option<&'a str>) -> StreamHead<'a> {
    StreamHead {
        method,
        upgrade,
        scheme: Scheme::HTTPS,
        authority: Authority::from_static("10.0.0.5:8443"),
        path: "/base/x?y=1".into(),
        host: HeaderValue::from_static("wiki.example.com"),
        origin_insecure: true,
    }
}

#[test]
fn a_request_decodes_as_it_was_encoded() {
    let mut headers = HeaderMap::new();
    headers.insert("x-app", HeaderValue::from_static("1"));
    let req = encode(head(&Method::POST, None), headers).expect("encode");
    let (parts, ()) = req.into_parts();
    let d = decode(parts).expect("decode");
    assert_eq!(d.method, Method::POST);
    assert_eq!(d.uri.to_string(), "https://10.0.0.5:8443/base/x?y=1");
    assert_eq!((d.host.as_str(), d.port), ("10.0.0.5", 8443));
    assert_eq!(d.headers[header::HOST], "wiki.example.com");
    assert_eq!(d.headers["x-app"], "1");
    assert!(d.origin_insecure);
    assert!(d.upgrade.is_none());
    assert!(!d.headers.keys().any(is_control), "{:?}", d.headers);
}

#[test]
fn an_upgrade_travels_as_extended_connect() {
    let req = encode(head(&Method::GET, Some("websocket")), HeaderMap::new()).expect("encode");
    assert_eq!(req.method(), Method::CONNECT);
    let (parts, ()) = req.into_parts();
    let d = decode(parts).expect("decode");
    assert_eq!(
        d.upgrade.as_ref().map(|v| v.as_bytes()),
        Some(&b"websocket"[..])
    );

    let plain = Request::builder()
        .method(Method::CONNECT)
        .uri("http://10.0.0.5/")
        .body(())
        .expect("request");
    assert!(decode(plain.into_parts().0).is_err());
}

#[test]
fn bad_targets_are_refused() {
    for uri in ["ftp://10.0.0.5/", "/relative"] {
        let req = Request::builder().uri(uri).body(()).expect("request");
        assert!(decode(req.into_parts().0).is_err(), "{uri}");
    }
}

#[test]
fn error_codes_round_trip_and_unknown_is_origin_error() {
    for e in [
        WireError::NotAllowed,
        WireError::OriginUnreachable,
        WireError::OriginTls,
        WireError::OriginError,
        WireError::BadRequest,
    ] {
        let mut resp = Response::new(());
        e.mark(resp.headers_mut());
        assert_eq!(WireError::of(&resp), Some(e));
    }
    assert_eq!(
        WireError::from_code(b"from-the-future"),
        WireError::OriginError
    );
    assert_eq!(WireError::of(&Response::new(())), None);
}

#[test]
fn hop_by_hop_fields_and_connection_listed_ones_go() {
    let mut h = HeaderMap::new();
    for name in HOP_BY_HOP {
        h.insert(*name, HeaderValue::from_static("x"));
    }
    h.insert(
        header::CONNECTION,
        HeaderValue::from_static("x-secret, close"),
    );
    h.insert("x-secret", HeaderValue::from_static("1"));
    h.insert("x-kept", HeaderValue::from_static("1"));
    strip_hop_by_hop(&mut h);
    assert_eq!(h.len(), 1, "{h:?}");
    assert!(h.contains_key("x-kept"));
}
