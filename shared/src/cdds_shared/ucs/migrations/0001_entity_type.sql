-- Lookup of UCS entity types (the kind of an interaction), as in UCS 8.5.
CREATE TABLE entity_type (
    id          smallint PRIMARY KEY,
    name        varchar(64) NOT NULL UNIQUE,
    media_type_id varchar(64) NOT NULL,
    description text
);

INSERT INTO entity_type (id, name, media_type_id, description) VALUES
    (1, 'EmailIn',   'email',    'inbound e-mail'),
    (2, 'EmailOut',  'email',    'outbound e-mail (reply, acknowledgement, new)'),
    (3, 'Chat',      'chat',     'web chat session; transcript in structured_text'),
    (4, 'PhoneCall', 'voice',    'voice call'),
    (5, 'Callback',  'callback', 'scheduled callback request'),
    (6, 'Sms',       'sms',      'SMS message or session'),
    (7, 'Workitem',  'workitem', 'open-media work item');
