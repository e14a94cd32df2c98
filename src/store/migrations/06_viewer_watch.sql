-- Watch time credited to each viewer from the viewer page: it may never exceed the time since the
-- viewer's token was issued.
CREATE TABLE viewer_watch (
    channel TEXT NOT NULL,
    token TEXT NOT NULL,
    seconds REAL NOT NULL,
    PRIMARY KEY (channel, token)
);
