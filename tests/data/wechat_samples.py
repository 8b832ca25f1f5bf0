"""WeChat's and WeCom's own sample messages and events, verbatim (whitespace and all) as public SDKs' test suites
and the platforms' documentation carry them, each with what houqin must answer.

Each sample names its source: `wechatpy/wechatpy` and `offu/WeRoBot` test files (path and test function), or
the platform's documentation page where neither suite has one (WeCom `enter_agent`, the Official Account's
`view_miniprogram`), and `JeffreySu/WeiXinMPSDK`'s test copy of WeCom's documented `change_contact`.

`expect` is one of
- "none": WeChat wants no answer (a system event, a menu link, a menu-photo event): `success`, no feedback;
- "welcome": a follow: the welcome text;
- "menu": a menu button or a scan of a code houqin did not make: the menu;
- "photo" / "voice" / "comment": a person talking: recorded as a new feedback, the reply naming it;
- "unsupported": a message type houqin genuinely does not take (video, location, link, …): 「暂不支持这类消息」.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """One sample delivery: which endpoint, where it comes from, the XML as published, what to answer."""

    name: str
    app: str  # mp (/wechat) or wecom (/wecom)
    source: str
    expect: str
    xml: str


WECHATPY = "wechatpy/wechatpy"
WEROBOT = "offu/WeRoBot"

MP: list[Sample] = [
    # --- messages: a person talking ---------------------------------------------------------------------
    Sample(
        "text",
        "mp",
        f"{WECHATPY} tests/test_parser.py::test_parse_text_message",
        "comment",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
         <CreateTime>1348831860</CreateTime>
        <MsgType><![CDATA[text]]></MsgType>
        <Content><![CDATA[this is a test]]></Content>
        <MsgId>1234567890123456</MsgId>
        </xml>""",
    ),
    Sample(
        "image",
        "mp",
        f"{WECHATPY} tests/test_parser.py::test_parse_image_message",
        "photo",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1348831860</CreateTime>
        <MsgType><![CDATA[image]]></MsgType>
        <PicUrl><![CDATA[this is a url]]></PicUrl>
        <MediaId><![CDATA[media_id]]></MediaId>
        <MsgId>1234567890123456</MsgId>
        </xml>""",
    ),
    Sample(
        "image_no_media_id",
        "mp",
        f"{WEROBOT} tests/test_parser.py::test_image_message",
        "photo",
        """
    <xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1348831860</CreateTime>
        <MsgType><![CDATA[image]]></MsgType>
        <PicUrl><![CDATA[this is a url]]></PicUrl>
        <MsgId>1234567890123456</MsgId>
    </xml>
    """,
    ),
    Sample(
        "voice_recognition",
        "mp",
        f"{WEROBOT} tests/test_parser.py::test_voice_message",
        "voice",
        """
    <xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1357290913</CreateTime>
        <MsgType><![CDATA[voice]]></MsgType>
        <MediaId><![CDATA[media_id]]></MediaId>
        <Format><![CDATA[Format]]></Format>
        <Recognition><![CDATA[Meow~]]></Recognition>
        <MsgId>1234567890123456</MsgId>
    </xml>
    """,
    ),
    Sample(
        "voice",
        "mp",
        f"{WECHATPY} tests/test_parser.py::test_parse_voice_message",
        "voice",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1357290913</CreateTime>
        <MsgType><![CDATA[voice]]></MsgType>
        <MediaId><![CDATA[media_id]]></MediaId>
        <Format><![CDATA[Format]]></Format>
        <MsgId>1234567890123456</MsgId>
        </xml>""",
    ),
    # --- message types houqin does not take ----------------------------------------------------------------
    Sample(
        "video",
        "mp",
        f"{WECHATPY} tests/test_parser.py::test_parse_video_message",
        "unsupported",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1357290913</CreateTime>
        <MsgType><![CDATA[video]]></MsgType>
        <MediaId><![CDATA[media_id]]></MediaId>
        <ThumbMediaId><![CDATA[thumb_media_id]]></ThumbMediaId>
        <MsgId>1234567890123456</MsgId>
        </xml>""",
    ),
    Sample(
        "location",
        "mp",
        f"{WECHATPY} tests/test_parser.py::test_parse_location_message",
        "unsupported",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1351776360</CreateTime>
        <MsgType><![CDATA[location]]></MsgType>
        <Location_X>23.134521</Location_X>
        <Location_Y>113.358803</Location_Y>
        <Scale>20</Scale>
        <Label><![CDATA[位置信息]]></Label>
        <MsgId>1234567890123456</MsgId>
        </xml>""",
    ),
    Sample(
        "link",
        "mp",
        f"{WEROBOT} tests/test_parser.py::test_link_message",
        "unsupported",
        """
    <xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1351776360</CreateTime>
        <MsgType><![CDATA[link]]></MsgType>
        <Title><![CDATA[WeRoBot]]></Title>
        <Description><![CDATA[Link to WeRoBot]]></Description>
        <Url><![CDATA[https://github.com/whtsky/WeRoBot]]></Url>
        <MsgId>1234567890123456</MsgId>
    </xml>
    """,
    ),
    Sample(
        "unknown_type",
        "mp",
        f"{WECHATPY} tests/test_parser.py::test_parse_unknown_message",
        "unsupported",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1348831860</CreateTime>
        <MsgType><![CDATA[notsure]]></MsgType>
        <MsgId>1234567890123456</MsgId>
        </xml>""",
    ),
    # --- following, scanning, the menu ----------------------------------------------------------------
    Sample(
        "subscribe",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_subscribe_event",
        "welcome",
        """
        <xml>
            <ToUserName><![CDATA[toUser]]></ToUserName>
            <FromUserName><![CDATA[FromUser]]></FromUserName>
            <CreateTime>123456789</CreateTime>
            <MsgType><![CDATA[event]]></MsgType>
            <Event><![CDATA[subscribe]]></Event>
        </xml>
        """,
    ),
    Sample(
        "subscribe_qrscene",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_subscribe_scan_event",
        "welcome",
        """
        <xml>
            <ToUserName><![CDATA[toUser]]></ToUserName>
            <FromUserName><![CDATA[FromUser]]></FromUserName>
            <CreateTime>123456789</CreateTime>
            <MsgType><![CDATA[event]]></MsgType>
            <Event><![CDATA[subscribe]]></Event>
            <EventKey><![CDATA[qrscene_123123]]></EventKey>
            <Ticket><![CDATA[TICKET]]></Ticket>
        </xml>
        """,
    ),
    Sample(
        "subscribe_last_trade_no",
        "mp",
        f"{WECHATPY} tests/test_parser.py::test_parse_subscribe_event_with_last_trade_no",
        "welcome",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[FromUser]]></FromUserName>
        <CreateTime>123456789</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[subscribe]]></Event>
        <EventKey><![CDATA[last_trade_no_4008072001201701105817415015]]></EventKey>
        </xml>""",
    ),
    Sample(
        "subscribe_scan_product",
        "mp",
        f"{WECHATPY} tests/test_parser.py::test_parse_subscribe_scan_product_event",
        "welcome",
        """<xml>
        <ToUserName><![CDATA[gh_fbe8a958756e]]></ToUserName>
        <FromUserName><![CDATA[otAzGjrS4AYCmeJM1GhEOcHXXTAo]]></FromUserName>
        <CreateTime>1433259128</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[subscribe]]></Event>
        <EventKey><![CDATA[scanbarcode|keystandard|keystr]]></EventKey>
        </xml>""",
    ),
    Sample(
        "SCAN",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_scan_event",
        "menu",
        """
        <xml>
            <ToUserName><![CDATA[toUser]]></ToUserName>
            <FromUserName><![CDATA[FromUser]]></FromUserName>
            <CreateTime>123456789</CreateTime>
            <MsgType><![CDATA[event]]></MsgType>
            <Event><![CDATA[SCAN]]></Event>
            <EventKey><![CDATA[SCENE_VALUE]]></EventKey>
            <Ticket><![CDATA[TICKET]]></Ticket>
        </xml>
        """,
    ),
    Sample(
        "CLICK",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_click_event",
        "menu",
        """
        <xml>
            <ToUserName><![CDATA[toUser]]></ToUserName>
            <FromUserName><![CDATA[FromUser]]></FromUserName>
            <CreateTime>123456789</CreateTime>
            <MsgType><![CDATA[event]]></MsgType>
            <Event><![CDATA[CLICK]]></Event>
            <EventKey><![CDATA[EVENTKEY]]></EventKey>
        </xml>
        """,
    ),
    Sample(
        "scancode_waitmsg",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_scan_code_waitmsg_event",
        "menu",
        """<xml>
        <ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>
        <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>
        <CreateTime>1408090606</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[scancode_waitmsg]]></Event>
        <EventKey><![CDATA[6]]></EventKey>
        <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>
        <ScanResult><![CDATA[2]]></ScanResult>
        </ScanCodeInfo>
        </xml>""",
    ),
    # --- events that are not a person talking: success ------------------------------------------------
    Sample(
        "unsubscribe",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_unsubscribe_event",
        "none",
        """
        <xml>
            <ToUserName><![CDATA[toUser]]></ToUserName>
            <FromUserName><![CDATA[FromUser]]></FromUserName>
            <CreateTime>123456789</CreateTime>
            <MsgType><![CDATA[event]]></MsgType>
            <Event><![CDATA[unsubscribe]]></Event>
        </xml>
        """,
    ),
    Sample(
        "VIEW",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_view_event",
        "none",
        """
        <xml>
            <ToUserName><![CDATA[toUser]]></ToUserName>
            <FromUserName><![CDATA[FromUser]]></FromUserName>
            <CreateTime>123456789</CreateTime>
            <MsgType><![CDATA[event]]></MsgType>
            <Event><![CDATA[VIEW]]></Event>
            <EventKey><![CDATA[www.qq.com]]></EventKey>
        </xml>
        """,
    ),
    Sample(
        "view_miniprogram",
        "mp",
        "公众号文档「自定义菜单事件推送」(developers.weixin.qq.com/doc/offiaccount/Message_Management/"
        "Receiving_event_pushes.html); the same XML in JeffreySu/WeiXinMPSDK's MessageHandlers ViewMiniProgramTest",
        "none",
        """<xml>
<ToUserName><![CDATA[toUser]]></ToUserName>
<FromUserName><![CDATA[FromUser]]></FromUserName>
<CreateTime>123456789</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[view_miniprogram]]></Event>
<EventKey><![CDATA[pages/index/index]]></EventKey>
<MenuId>MENUID</MenuId>
</xml>
""",
    ),
    Sample(
        "LOCATION",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_location_event",
        "none",
        """
        <xml>
          <ToUserName><![CDATA[toUser]]></ToUserName>
          <FromUserName><![CDATA[fromUser]]></FromUserName>
          <CreateTime>123456789</CreateTime>
          <MsgType><![CDATA[event]]></MsgType>
          <Event><![CDATA[LOCATION]]></Event>
          <Latitude>23.137466</Latitude>
          <Longitude>113.352425</Longitude>
          <Precision>119.385040</Precision>
        </xml>
        """,
    ),
    Sample(
        "scancode_push",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_scan_code_push_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>
        <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>
        <CreateTime>1408090502</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[scancode_push]]></Event>
        <EventKey><![CDATA[6]]></EventKey>
        <ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>
        <ScanResult><![CDATA[1]]></ScanResult>
        </ScanCodeInfo>
        </xml>""",
    ),
    Sample(
        "pic_sysphoto",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_pic_sysphoto_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>
        <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>
        <CreateTime>1408090651</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[pic_sysphoto]]></Event>
        <EventKey><![CDATA[6]]></EventKey>
        <SendPicsInfo><Count>1</Count>
        <PicList>
            <item>
            <PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum>
            </item>
        </PicList>
        </SendPicsInfo>
        </xml>""",
    ),
    Sample(
        "pic_photo_or_album",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_pic_photo_or_album_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>
        <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>
        <CreateTime>1408090816</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[pic_photo_or_album]]></Event>
        <EventKey><![CDATA[6]]></EventKey>
        <SendPicsInfo><Count>1</Count>
        <PicList>
        <item>
        <PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum>
        </item>
        </PicList>
        </SendPicsInfo>
        </xml>""",
    ),
    Sample(
        "pic_weixin",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_pic_wechat_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>
        <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>
        <CreateTime>1408090816</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[pic_weixin]]></Event>
        <EventKey><![CDATA[6]]></EventKey>
        <SendPicsInfo><Count>1</Count>
        <PicList>
        <item>
        <PicMd5Sum><![CDATA[5a75aaca956d97be686719218f275c6b]]></PicMd5Sum>
        </item>
        </PicList>
        </SendPicsInfo>
        </xml>""",
    ),
    Sample(
        "location_select",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_location_select_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[gh_e136c6e50636]]></ToUserName>
        <FromUserName><![CDATA[oMgHVjngRipVsoxg6TuX3vz6glDg]]></FromUserName>
        <CreateTime>1408091189</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[location_select]]></Event>
        <EventKey><![CDATA[6]]></EventKey>
        <SendLocationInfo><Location_X><![CDATA[23]]></Location_X>
        <Location_Y><![CDATA[113]]></Location_Y>
        <Scale><![CDATA[15]]></Scale>
        <Label><![CDATA[广州市海珠区客村艺苑路 106号]]></Label>
        <Poiname><![CDATA[]]></Poiname>
        </SendLocationInfo>
        </xml>""",
    ),
    Sample(
        "subscribe_msg_popup_event",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_template_subscribe_msg_popup_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
        <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
        <CreateTime>1610969440</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[subscribe_msg_popup_event]]></Event>
        <SubscribeMsgPopupEvent>
            <List>
                <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
                <SubscribeStatusString><![CDATA[accept]]></SubscribeStatusString>
                <PopupScene>2</PopupScene>
            </List>
            <List>
                <TemplateId><![CDATA[9nLIlbOQZC5Y89AZteFEux3WCXRRRG5Wfzkpssu4bLI]]></TemplateId>
                <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>
                <PopupScene>2</PopupScene>
            </List>
        </SubscribeMsgPopupEvent>
        </xml>""",
    ),
    Sample(
        "subscribe_msg_change_event",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_template_subscribe_msg_change_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
        <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
        <CreateTime>1610969440</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[subscribe_msg_change_event]]></Event>
        <SubscribeMsgChangeEvent>
            <List>
                <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
                <SubscribeStatusString><![CDATA[reject]]></SubscribeStatusString>
            </List>
        </SubscribeMsgChangeEvent>
        </xml>""",
    ),
    Sample(
        "subscribe_msg_sent_event",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_template_subscribe_msg_sent_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[gh_123456789abc]]></ToUserName>
        <FromUserName><![CDATA[otFpruAK8D-E6EfStSYonYSBZ8_4]]></FromUserName>
        <CreateTime>1610969468</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[subscribe_msg_sent_event]]></Event>
        <SubscribeMsgSentEvent>
            <List>
                <TemplateId><![CDATA[VRR0UEO9VJOLs0MHlU0OilqX6MVFDwH3_3gz3Oc0NIc]]></TemplateId>
                <MsgID>1700827132819554304</MsgID>
                <ErrorCode>0</ErrorCode>
                <ErrorStatus><![CDATA[success]]></ErrorStatus>
            </List>
        </SubscribeMsgSentEvent>
        </xml>""",
    ),
    Sample(
        "TEMPLATESENDJOBFINISH",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_template_send_job_finish_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[touser]]></ToUserName>
        <FromUserName><![CDATA[fromuser]]></FromUserName>
        <CreateTime>1395658920</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>
        <MsgID>200163836</MsgID>
        <Status><![CDATA[success]]></Status>
        </xml>""",
    ),
    Sample(
        "TEMPLATESENDJOBFINISH_failed",
        "mp",
        f"{WEROBOT} tests/test_parser.py::test_templatesendjobfinish_event",
        "none",
        """
    <xml>
        <ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>
        <FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>
        <CreateTime>1395658984</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>
        <MsgID>200163840</MsgID>
        <Status><![CDATA[failed: system failed]]></Status>
    </xml>
    """,
    ),
    Sample(
        "MASSSENDJOBFINISH",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_mass_send_job_finish_event",
        "none",
        """
        <xml>
            <ToUserName><![CDATA[gh_4d00ed8d6399]]></ToUserName>
            <FromUserName><![CDATA[oV5CrjpxgaGXNHIQigzNlgLTnwic]]></FromUserName>
            <CreateTime>1481013459</CreateTime>
            <MsgType><![CDATA[event]]></MsgType>
            <Event><![CDATA[MASSSENDJOBFINISH]]></Event>
            <MsgID>1000001625</MsgID>
            <Status><![CDATA[err(30003)]]></Status>
            <TotalCount>0</TotalCount>
            <FilterCount>0</FilterCount>
            <SentCount>0</SentCount>
            <ErrorCount>0</ErrorCount>
            <CopyrightCheckResult>
                <Count>2</Count>
                <ResultList>
                    <item>
                        <ArticleIdx>1</ArticleIdx>
                        <UserDeclareState>0</UserDeclareState>
                        <AuditState>2</AuditState>
                        <OriginalArticleUrl><![CDATA[Url_1]]></OriginalArticleUrl>
                        <OriginalArticleType>1</OriginalArticleType>
                        <CanReprint>1</CanReprint>
                        <NeedReplaceContent>1</NeedReplaceContent>
                        <NeedShowReprintSource>1</NeedShowReprintSource>
                    </item>
                    <item>
                        <ArticleIdx>2</ArticleIdx>
                        <UserDeclareState>0</UserDeclareState>
                        <AuditState>2</AuditState>
                        <OriginalArticleUrl><![CDATA[Url_2]]></OriginalArticleUrl>
                        <OriginalArticleType>1</OriginalArticleType>
                        <CanReprint>1</CanReprint>
                        <NeedReplaceContent>1</NeedReplaceContent>
                        <NeedShowReprintSource>1</NeedShowReprintSource>
                    </item>
                </ResultList>
                <CheckState>2</CheckState>
            </CopyrightCheckResult>
            <ArticleUrlResult>
                <Count>1</Count>
                <ResultList>
                    <item>
                        <ArticleIdx>1</ArticleIdx>
                        <ArticleUrl><![CDATA[Url]]></ArticleUrl>
                    </item>
               </ResultList>
            </ArticleUrlResult>
        </xml>
        """,
    ),
    Sample(
        "kf_close_session",
        "mp",
        f"{WECHATPY} tests/test_events.py::test_kf_close_session_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[touser]]></ToUserName>
        <FromUserName><![CDATA[fromuser]]></FromUserName>
        <CreateTime>1399197672</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[kf_close_session]]></Event>
        <KfAccount><![CDATA[test1@test]]></KfAccount>
        </xml>""",
    ),
]

WECOM: list[Sample] = [
    Sample(
        "text",
        "wecom",
        f"{WECHATPY} tests/test_work_parser.py::test_parse_text_message",
        "comment",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
         <CreateTime>1348831860</CreateTime>
        <MsgType><![CDATA[text]]></MsgType>
        <Content><![CDATA[this is a test]]></Content>
        <MsgId>1234567890123456</MsgId>
        <AgentID>1</AgentID>
        </xml>""",
    ),
    Sample(
        "image",
        "wecom",
        f"{WECHATPY} tests/test_work_parser.py::test_parse_image_message",
        "photo",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1348831860</CreateTime>
        <MsgType><![CDATA[image]]></MsgType>
        <PicUrl><![CDATA[this is a url]]></PicUrl>
        <MediaId><![CDATA[media_id]]></MediaId>
        <MsgId>1234567890123456</MsgId>
        <AgentID>1</AgentID>
        </xml>""",
    ),
    Sample(
        "voice",
        "wecom",
        f"{WECHATPY} tests/test_work_parser.py::test_parse_voice_message",
        "voice",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1357290913</CreateTime>
        <MsgType><![CDATA[voice]]></MsgType>
        <MediaId><![CDATA[media_id]]></MediaId>
        <Format><![CDATA[Format]]></Format>
        <MsgId>1234567890123456</MsgId>
        <AgentID>1</AgentID>
        </xml>""",
    ),
    Sample(
        "link",
        "wecom",
        f"{WECHATPY} tests/test_work_parser.py::test_parse_link_message",
        "unsupported",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>1351776360</CreateTime>
        <MsgType><![CDATA[link]]></MsgType>
        <Title><![CDATA[公众平台官网链接]]></Title>
        <Description><![CDATA[公众平台官网链接]]></Description>
        <Url><![CDATA[url]]></Url>
        <PicUrl><![CDATA[picurl]]></PicUrl>
        <MsgId>1234567890123456</MsgId>
        <AgentID>1</AgentID>
        </xml>""",
    ),
    Sample(
        "click",
        "wecom",
        f"{WECHATPY} tests/test_work_parser.py::test_parse_click_event",
        "menu",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[FromUser]]></FromUserName>
        <CreateTime>123456789</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[CLICK]]></Event>
        <EventKey><![CDATA[EVENTKEY]]></EventKey>
        <AgentID>1</AgentID>
        </xml>""",
    ),
    Sample(
        "subscribe",
        "wecom",
        f"{WECHATPY} tests/test_work_parser.py::test_subscribe_event",
        "welcome",
        """
        <xml>
            <ToUserName><![CDATA[toUser]]></ToUserName>
            <FromUserName><![CDATA[UserID]]></FromUserName>
            <CreateTime>1348831860</CreateTime>
            <MsgType><![CDATA[event]]></MsgType>
            <Event><![CDATA[subscribe]]></Event>
            <AgentID>1</AgentID>
        </xml>
        """,
    ),
    Sample(
        "view",
        "wecom",
        f"{WECHATPY} tests/test_work_parser.py::test_parse_view_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[FromUser]]></FromUserName>
        <CreateTime>123456789</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[VIEW]]></Event>
        <EventKey><![CDATA[www.qq.com]]></EventKey>
        <AgentID>1</AgentID>
        </xml>""",
    ),
    Sample(
        "LOCATION",
        "wecom",
        f"{WECHATPY} tests/test_work_parser.py::test_parse_location_event",
        "none",
        """<xml>
        <ToUserName><![CDATA[toUser]]></ToUserName>
        <FromUserName><![CDATA[fromUser]]></FromUserName>
        <CreateTime>123456789</CreateTime>
        <MsgType><![CDATA[event]]></MsgType>
        <Event><![CDATA[LOCATION]]></Event>
        <Latitude>23.137466</Latitude>
        <Longitude>113.352425</Longitude>
        <Precision>119.385040</Precision>
        <AgentID>1</AgentID>
        </xml>""",
    ),
    Sample(
        "enter_agent",
        "wecom",
        "企业微信文档「事件格式 · 进入应用」(developer.work.weixin.qq.com/document/path/90240)",
        "none",
        """<xml><ToUserName><![CDATA[toUser]]></ToUserName><FromUserName><![CDATA[FromUser]]></FromUserName>"""
        """<CreateTime>1408091189</CreateTime><MsgType><![CDATA[event]]></MsgType>"""
        """<Event><![CDATA[enter_agent]]></Event><EventKey><![CDATA[]]></EventKey><AgentID>1</AgentID></xml>""",
    ),
    Sample(
        "change_contact",
        "wecom",
        "JeffreySu/WeiXinMPSDK src/Senparc.Weixin.Work/Senparc.Weixin.Work.Test/MessageHandlers/"
        "WorkMessageHandlerTest.Change_Contact.cs (「官方提供」: WeCom's documented create_user sample; the \\x20 is"
        " the source's trailing space)",
        "none",
        """<xml>
	<ToUserName><![CDATA[toUser]]></ToUserName>
	<FromUserName><![CDATA[sys]]></FromUserName>\x20
	<CreateTime>1403610513</CreateTime>
	<MsgType><![CDATA[event]]></MsgType>
	<Event><![CDATA[change_contact]]></Event>
	<ChangeType>create_user</ChangeType>
	<UserID><![CDATA[zhangsan]]></UserID>
	<Name><![CDATA[张三]]></Name>
	<Department><![CDATA[1,2,3]]></Department>
	<MainDepartment>1</MainDepartment>
	<IsLeaderInDept><![CDATA[1,0,0]]></IsLeaderInDept>
	<DirectLeader><![CDATA[lisi,wangwu]]></DirectLeader>
	<Position><![CDATA[产品经理]]></Position>
	<Mobile>13800000000</Mobile>
	<Gender>1</Gender>
	<Email><![CDATA[zhangsan@gzdev.com]]></Email>
	<BizMail><![CDATA[zhangsan@qyycs2.wecom.work]]></BizMail>
	<Status>1</Status>
	<Avatar><![CDATA[http://wx.qlogo.cn/mmopen/ajNVdqHZLLA3WJ6DSZUfiakYe37PKnQhBIeOQBO4czqrnZDS79FH5Wm5m4X69TBicnHFlhiafvDwklOpZeXYQQ2icg/0]]></Avatar>
	<Alias><![CDATA[zhangsan]]></Alias>
	<Telephone><![CDATA[020-123456]]></Telephone>
	<Address><![CDATA[广州市]]></Address>
	<ExtAttr>
		<Item>
		<Name><![CDATA[爱好]]></Name>
		<Type>0</Type>
		<Text>
			<Value><![CDATA[旅游]]></Value>
		</Text>
		</Item>
		<Item>
		<Name><![CDATA[卡号]]></Name>
		<Type>1</Type>
		<Web>
			<Title><![CDATA[企业微信]]></Title>
			<Url><![CDATA[https://work.weixin.qq.com]]></Url>
		</Web>
		</Item>
	</ExtAttr>
</xml>""",
    ),
    Sample(
        "batch_job_result",
        "wecom",
        f"{WECHATPY} tests/test_work_parser.py::test_export",
        "none",
        """
        <xml>
            <ToUserName><![CDATA[wx28dbb14e3720FAKE]]></ToUserName>
            <FromUserName><![CDATA[FromUser]]></FromUserName>
            <CreateTime>1425284517</CreateTime>
            <MsgType><![CDATA[event]]></MsgType>
            <Event><![CDATA[batch_job_result]]></Event>
            <BatchJob>
                <JobId><![CDATA[jobid_S0MrnndvRG5fadSlLwiBqiDDbM143UqTmKP3152FZk4]]></JobId>
                <JobType><![CDATA[export_user]]></JobType>
                <ErrCode>0</ErrCode>
                <ErrMsg><![CDATA[ok]]></ErrMsg>
            </BatchJob>
        </xml>
        """,
    ),
]

SAMPLES: list[Sample] = MP + WECOM
